#include "daemon/privileges.h"

#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"

#ifndef CAP_BPF
#define CAP_BPF 39  // linux/capability.h of older headers lacks it
#endif

namespace agility::daemon {
namespace {

// The errno's own code (EPERM, ENOENT stay distinct), with `what`.
absl::Status Errno(absl::string_view what) {
  return absl::ErrnoToStatus(errno, absl::StrCat("dropping privileges: ", what));
}

}  // namespace

absl::Status DropPrivileges(const std::string& user, const std::vector<std::string>& owned) {
  errno = 0;
  const passwd* pw = getpwnam(user.c_str());
  if (pw == nullptr) {
    return absl::NotFoundError(absl::StrCat("server.user: no user '", user, "'"));
  }
  const uid_t uid = pw->pw_uid;
  const gid_t gid = pw->pw_gid;
  for (const std::string& path : owned) {
    if (chown(path.c_str(), uid, gid) != 0) return Errno(absl::StrCat("chown ", path));
  }
  // Keep the permitted set across setuid; glibc applies setgid/setuid to
  // every thread, workers included.
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) return Errno("PR_SET_KEEPCAPS");
  if (setgroups(0, nullptr) != 0) return Errno("setgroups");
  if (setgid(gid) != 0) return Errno("setgid");
  if (setuid(uid) != 0) return Errno("setuid");
  if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) return Errno("PR_SET_KEEPCAPS");
  __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  for (const int cap : {CAP_BPF, CAP_NET_ADMIN}) {
    data[cap / 32].effective |= 1u << (cap % 32);
    data[cap / 32].permitted |= 1u << (cap % 32);
  }
  // Applies to the calling thread; the workers never need capabilities.
  if (syscall(SYS_capset, &header, data) != 0) return Errno("capset");
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return Errno("PR_SET_NO_NEW_PRIVS");
  return absl::OkStatus();
}

}  // namespace agility::daemon
