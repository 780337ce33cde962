// Test helpers: DNSSEC key files made in-process, as ldns-keygen writes them.
#pragma once

#include <cstdint>
#include <string>

namespace agility::testing {

// Writes K<apex>.+<alg>+<tag>.key/.private into `directory` (apex in
// presentation form without the final dot); algorithm 15 when `ed25519`,
// else 13. Returns the key tag.
uint16_t WriteKey(const std::string& directory, const std::string& apex, uint16_t flags,
                  bool ed25519);

// A directory under /tmp, removed with everything in it.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace agility::testing
