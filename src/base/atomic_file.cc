#include "base/atomic_file.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

namespace logitkit::base {

AtomicFile::~AtomicFile() {
  if (file_ != nullptr) std::fclose(file_);
  if (!temp_.empty()) ::unlink(temp_.c_str());
}

Status AtomicFile::Error(const std::string& what) const {
  const int e = errno;
  const StatusCode code = e == ENOSPC || e == EDQUOT || e == EFBIG ? StatusCode::kResourceExhausted
                          : e == ENOENT || e == EACCES || e == ENOTDIR || e == EROFS
                              ? StatusCode::kInvalidArgument
                              : StatusCode::kInternal;
  return Status(code, what + " '" + path_ + "': " + std::strerror(e) + " (the file there, if any, is unchanged)");
}

namespace {

// Where the temporary file goes: the file `path` names, links resolved; empty
// when it cannot be renamed over (not a regular file, a dangling link, or one
// of the process's streams: /dev/stdout, /dev/stderr, /dev/fd/N, /proc/...),
// so it is written in place.
// `mode` is the existing file's permission bits, or -1.
std::string RenameTarget(const std::string& path, int* mode) {
  *mode = -1;
  // The process's own streams: a redirect to a file must not be replaced
  // under the shell that opened it.
  for (const char* stream : {"/dev/stdout", "/dev/stderr", "/dev/fd/", "/proc/"}) {
    if (path.rfind(stream, 0) == 0) return "";
  }
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return path;  // a new file (or a folder error, named by open)
  std::string target = path;
  if (S_ISLNK(st.st_mode)) {
    char resolved[PATH_MAX];
    if (::realpath(path.c_str(), resolved) == nullptr || ::stat(resolved, &st) != 0) return "";
    target = resolved;
  }
  if (!S_ISREG(st.st_mode)) return "";
  *mode = int(st.st_mode & 07777);
  return target;
}

}  // namespace

Status AtomicFile::Open(const std::string& path) {
  if (!path_.empty()) return FailedPreconditionError("AtomicFile: '" + path_ + "' is open already");
  static std::atomic<uint64_t> counter{0};
  path_ = path;
  int mode = -1;
  target_ = RenameTarget(path, &mode);
  int fd = -1;
  if (target_.empty()) {
    fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) return Error("cannot open");
  } else {
    // A name taken already (a temporary file a killed run left behind, under
    // the same pid in a container) moves on to the next number.
    std::string temp;
    for (int attempt = 0; fd < 0 && attempt < 1000; ++attempt) {
      temp = target_ + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
      fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
      if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0) return Error("cannot create a file beside");
    temp_ = temp;
    if (mode >= 0 && ::fchmod(fd, mode_t(mode)) != 0) {
      const Status s = Error("cannot set the permissions of a file beside");
      ::close(fd);
      return s;
    }
  }
  file_ = ::fdopen(fd, "wb");
  if (file_ == nullptr) {
    const Status s = Error("cannot open");
    ::close(fd);
    return s;
  }
  return OkStatus();
}

Status AtomicFile::Write(const void* data, size_t n) {
  if (file_ == nullptr) return FailedPreconditionError("AtomicFile: '" + path_ + "' is not open");
  if (n != 0 && std::fwrite(data, 1, n, file_) != n) return Error("writing");
  written_ += n;
  return OkStatus();
}

Status AtomicFile::WriteZeros(size_t n) {
  static constexpr uint8_t kZeros[256] = {};
  while (n > 0) {
    const size_t k = n < sizeof(kZeros) ? n : sizeof(kZeros);
    LOGITKIT_RETURN_IF_ERROR(Write(kZeros, k));
    n -= k;
  }
  return OkStatus();
}

Status AtomicFile::Commit() {
  if (file_ == nullptr) return FailedPreconditionError("AtomicFile: '" + path_ + "' is not open");
  if (std::fflush(file_) != 0) return Error("writing");
  if (!temp_.empty() && ::fsync(::fileno(file_)) != 0) return Error("syncing");
  FILE* f = file_;
  file_ = nullptr;
  if (std::fclose(f) != 0) return Error("closing");
  if (temp_.empty()) return OkStatus();  // written in place
  if (std::rename(temp_.c_str(), target_.c_str()) != 0) return Error("cannot rename the new file to");
  temp_.clear();
  return OkStatus();
}

Status WriteFileAtomically(const std::string& path, std::string_view bytes) {
  AtomicFile f;
  LOGITKIT_RETURN_IF_ERROR(f.Open(path));
  LOGITKIT_RETURN_IF_ERROR(f.Write(bytes.data(), bytes.size()));
  return f.Commit();
}

}  // namespace logitkit::base
