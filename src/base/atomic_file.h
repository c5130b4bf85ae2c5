// Files written whole or not at all: a failure (a full disk, a crash, an
// error of the caller's) never leaves a half-written file where the old one
// was.
#ifndef LOGITKIT_BASE_ATOMIC_FILE_H_
#define LOGITKIT_BASE_ATOMIC_FILE_H_

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "logitkit/status.h"

namespace logitkit::base {

// Bytes go to a temporary file beside the target ("<path>.tmp.<pid>.<n>", so
// that the rename stays on one file system and writers do not collide);
// Commit flushes it to the disk and renames it over the target. Until Commit
// succeeds the target is untouched, and the temporary file is removed when
// the AtomicFile is destroyed. A target that exists keeps its permission
// bits; a symbolic link is followed (the file it names is replaced, the link
// stays). A target that is not a regular file (a pipe, a device) or is one of
// the process's streams (/dev/stdout, /dev/fd/N) is written directly. Errors
// name the target and the system's reason; a full disk (ENOSPC, EDQUOT) or
// the process's file-size limit (EFBIG) is kResourceExhausted, other failures
// kInternal (kInvalidArgument for a folder that does not exist or cannot be
// written).
class AtomicFile {
 public:
  AtomicFile() = default;
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  // Creates the temporary file for `path`. Once per AtomicFile.
  Status Open(const std::string& path);
  Status Write(const void* data, size_t n);
  Status WriteZeros(size_t n);
  // Bytes written so far.
  uint64_t written() const { return written_; }
  // Flushes, syncs and closes the temporary file, then renames it to the
  // path given to Open. After an error nothing more may be written.
  Status Commit();

 private:
  Status Error(const std::string& what) const;

  std::string path_;  // as given to Open, for messages
  std::string temp_;  // the temporary file; empty when writing directly or after Commit
  std::string target_;  // what the temporary file is renamed to: path_ with links resolved
  FILE* file_ = nullptr;
  uint64_t written_ = 0;
};

// Writes `bytes` to `path` through an AtomicFile.
Status WriteFileAtomically(const std::string& path, std::string_view bytes);

}  // namespace logitkit::base

#endif  // LOGITKIT_BASE_ATOMIC_FILE_H_
