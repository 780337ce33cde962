#include "dns/record_pipe.h"

namespace agility::dns {

RecordPipe::RecordPipe(ZoneBuilder& builder, bool threaded) : builder_(builder) {
  if (threaded) consumer_ = std::thread([this] { Consume(); });
}

RecordPipe::~RecordPipe() { Finish(); }

void RecordPipe::Add(absl::string_view owner, uint16_t type, uint32_t ttl, absl::string_view rdata,
                     const std::string& file, int line) {
  if (!consumer_.joinable()) {
    builder_.Add(owner, type, ttl, rdata, file, line);
    return;
  }
  if (files_.empty() || files_.back() != file) files_.push_back(file);
  current_.bytes.append(owner.data(), owner.size());
  current_.bytes.append(rdata.data(), rdata.size());
  current_.records.push_back({static_cast<uint32_t>(owner.size()),
                              static_cast<uint32_t>(rdata.size()), ttl, static_cast<uint32_t>(line),
                              type, static_cast<uint16_t>(files_.size() - 1)});
  if (current_.records.size() == kBatchRecords) Flush();
}

void RecordPipe::Flush() {
  if (current_.records.empty()) return;
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [this] { return queue_.size() < kMaxQueued; });
  queue_.push_back(std::move(current_));
  current_ = Batch();
  current_.records.reserve(kBatchRecords);
  changed_.notify_all();
}

void RecordPipe::Finish() {
  if (!consumer_.joinable()) return;
  Flush();
  {
    std::lock_guard lock(mutex_);
    done_ = true;
  }
  changed_.notify_all();
  consumer_.join();
}

void RecordPipe::Consume() {
  while (true) {
    Batch batch;
    {
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [this] { return !queue_.empty() || done_; });
      if (queue_.empty()) return;
      batch = std::move(queue_.front());
      queue_.pop_front();
      changed_.notify_all();
    }
    size_t at = 0;
    const absl::string_view bytes = batch.bytes;
    for (const Meta& m : batch.records) {
      builder_.Add(bytes.substr(at, m.owner_size), m.type, m.ttl,
                   bytes.substr(at + m.owner_size, m.rdata_size), files_[m.file],
                   static_cast<int>(m.line));
      at += m.owner_size + m.rdata_size;
    }
  }
}

}  // namespace agility::dns
