#include "dns/record_pipe.h"

#include "dns/wire.h"

namespace agility::dns {

RecordPipe::RecordPipe(ZoneBuilder& builder, bool threaded) : builder_(builder) {
  if (threaded) consumer_ = std::thread([this] { Consume(); });
}

RecordPipe::~RecordPipe() { Finish(); }

void RecordPipe::Add(absl::string_view owner, uint16_t type, uint32_t ttl, absl::string_view rdata,
                     const std::string& file, int line) {
  if (files_.empty() || files_.back() != file) files_.push_back(file);
  const size_t at = current_.bytes.size();
  current_.bytes.append(owner.data(), owner.size());
  for (size_t i = at; i < current_.bytes.size(); ++i) {
    current_.bytes[i] = static_cast<char>(AsciiLower(static_cast<uint8_t>(current_.bytes[i])));
  }
  const uint64_t hash = NameTable::Hash(absl::string_view(current_.bytes).substr(at));
  current_.bytes.append(rdata.data(), rdata.size());
  current_.records.push_back({files_.back(), static_cast<uint32_t>(owner.size()),
                              static_cast<uint32_t>(rdata.size()), ttl, static_cast<uint32_t>(line),
                              type, hash});
  if (current_.records.size() == kBatchRecords) Flush();
}

void RecordPipe::Flush() {
  if (current_.records.empty()) return;
  if (!consumer_.joinable()) {
    Deliver(current_);
    current_.bytes.clear();
    current_.records.clear();
    return;
  }
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [this] { return queue_.size() < kMaxQueued; });
  queue_.push_back(std::move(current_));
  current_ = Batch();
  current_.records.reserve(kBatchRecords);
  changed_.notify_all();
}

void RecordPipe::Finish() {
  Flush();
  if (!consumer_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    done_ = true;
  }
  changed_.notify_all();
  consumer_.join();
}

void RecordPipe::Deliver(const Batch& batch) {
  inputs_.clear();
  size_t at = 0;
  const absl::string_view bytes = batch.bytes;
  for (const Meta& m : batch.records) {
    inputs_.push_back({bytes.substr(at, m.owner_size),
                       bytes.substr(at + m.owner_size, m.rdata_size), m.file, m.ttl, m.line, m.type,
                       m.owner_hash});
    at += m.owner_size + m.rdata_size;
  }
  builder_.Add(inputs_);
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
    Deliver(batch);
  }
}

}  // namespace agility::dns
