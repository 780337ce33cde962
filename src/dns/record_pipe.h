// Hands parsed records to the ZoneBuilder in batches, in file order. With
// `threaded`, another thread adds them, so that parsing and interning names
// run on two cores.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/string_view.h"
#include "dns/zone_builder.h"

namespace agility::dns {

class RecordPipe {
 public:
  // With `threaded` false, batches go into `builder` on the calling thread.
  RecordPipe(ZoneBuilder& builder, bool threaded);
  ~RecordPipe();  // finishes (as Finish) if needed

  // `owner` is a wire name in any case; the builder gets it in lowercase.
  void Add(absl::string_view owner, uint16_t type, uint32_t ttl, absl::string_view rdata,
           const std::string& file, int line);
  // Waits until every record is in the builder.
  void Finish();

 private:
  struct Meta {
    absl::string_view file;  // one of files_
    uint32_t owner_size, rdata_size, ttl, line;
    uint16_t type;
    uint64_t owner_hash;  // hashed here: the builder's thread is the busier
  };
  struct Batch {
    std::string bytes;
    std::vector<Meta> records;
  };
  static constexpr size_t kBatchRecords = 4096;
  static constexpr size_t kMaxQueued = 8;

  void Flush();
  void Consume();
  // Adds the batch's records to the builder.
  void Deliver(const Batch& batch);

  ZoneBuilder& builder_;
  std::deque<std::string> files_;           // stable addresses: Meta points into them
  std::vector<ZoneBuilder::Input> inputs_;  // Deliver's scratch
  Batch current_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Batch> queue_;
  bool done_ = false;
  std::thread consumer_;
};

}  // namespace agility::dns
