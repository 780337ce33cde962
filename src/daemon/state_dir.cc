#include "daemon/state_dir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace agility::daemon {
namespace {

// The errno's own code (EPERM, ENOENT, EEXIST stay distinct), with `what`.
absl::Status Errno(absl::string_view what) { return absl::ErrnoToStatus(errno, what); }

}  // namespace

StateDir::StateDir(std::string path) : path_(std::move(path)) {
  std::error_code error;
  const mode_t old_mask = umask(0077);
  std::filesystem::create_directories(path_, error);
  umask(old_mask);
  if (error) {
    status_ = absl::UnavailableError(
        absl::StrCat("server.state_dir ", path_, ": cannot create: ", error.message()));
    return;
  }
  if (chmod(path_.c_str(), 0700) != 0) {
    status_ = Errno(absl::StrCat("server.state_dir ", path_, ": chmod 0700"));
  }
}

absl::Status StateDir::Write(const std::string& name, const std::string& text, bool synced) const {
  if (!status_.ok()) return status_;
  const std::string target = FilePath(name);
  const std::string temporary = target + ".tmp";
  const int fd = open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Errno(absl::StrCat("open ", temporary));
  size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const absl::Status failed = Errno(absl::StrCat("write ", temporary));
      close(fd);
      unlink(temporary.c_str());
      return failed;
    }
    written += static_cast<size_t>(n);
  }
  if (synced && fsync(fd) != 0) {
    const absl::Status failed = Errno(absl::StrCat("fsync ", temporary));
    close(fd);
    unlink(temporary.c_str());
    return failed;
  }
  close(fd);
  if (rename(temporary.c_str(), target.c_str()) != 0) {
    const absl::Status failed = Errno(absl::StrCat("rename ", temporary));
    unlink(temporary.c_str());
    return failed;
  }
  if (!synced) return absl::OkStatus();
  // The rename itself must reach the disk before we rely on it.
  const int dir = open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return Errno(absl::StrCat("open ", path_));
  const bool failed = fsync(dir) != 0;
  const absl::Status status = failed ? Errno(absl::StrCat("fsync ", path_)) : absl::OkStatus();
  close(dir);
  return status;
}

absl::StatusOr<std::optional<std::string>> StateDir::Read(const std::string& name) const {
  if (!status_.ok()) return std::optional<std::string>();
  const std::string file = FilePath(name);
  std::ifstream in(file);
  if (!in) {
    if (errno == ENOENT) return std::optional<std::string>();
    return Errno(absl::StrCat("open ", file));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return std::optional<std::string>(text.str());
}

}  // namespace agility::daemon
