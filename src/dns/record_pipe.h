// Hands parsed records from the thread that reads a zone file to a thread
// that adds them to the ZoneBuilder, in batches, so that parsing and
// interning names run on two cores. Order is kept.
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
  // With `threaded` false, records go straight into `builder`.
  RecordPipe(ZoneBuilder& builder, bool threaded);
  ~RecordPipe();  // finishes (as Finish) if needed

  void Add(absl::string_view owner, uint16_t type, uint32_t ttl, absl::string_view rdata,
           const std::string& file, int line);
  // Waits until every record is in the builder.
  void Finish();

 private:
  struct Meta {
    uint32_t owner_size, rdata_size, ttl, line;
    uint16_t type;
    uint16_t file;  // index into files_
  };
  struct Batch {
    std::string bytes;
    std::vector<Meta> records;
  };
  static constexpr size_t kBatchRecords = 4096;
  static constexpr size_t kMaxQueued = 8;

  void Flush();
  void Consume();

  ZoneBuilder& builder_;
  std::deque<std::string> files_;  // stable addresses for the consumer
  Batch current_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Batch> queue_;
  bool done_ = false;
  std::thread consumer_;
};

}  // namespace agility::dns
