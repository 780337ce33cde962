// server.state_dir: what must outlive the process (drains, weight
// overrides). Files are replaced atomically (write, fsync, rename, fsync the
// directory), so a crash leaves the old version or the new one, never half.
#pragma once

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace agility::daemon {

class StateDir {
 public:
  // Creates `path` with mode 0700 when missing (and tightens it when not).
  // When that fails, the StateDir still works in memory: reads find nothing,
  // writes fail with the reason, and `status()` says so.
  explicit StateDir(std::string path);

  const std::string& path() const { return path_; }
  const absl::Status& status() const { return status_; }

  // `synced` false skips the fsyncs: for what can be fetched again should a
  // power cut leave it empty (readers check what they read).
  absl::Status Write(const std::string& name, const std::string& text, bool synced = true) const;
  // nullopt when the file does not exist.
  absl::StatusOr<std::optional<std::string>> Read(const std::string& name) const;
  std::string FilePath(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
  absl::Status status_;
};

}  // namespace agility::daemon
