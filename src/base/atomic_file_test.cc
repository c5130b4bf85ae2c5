#include "base/atomic_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace logitkit::base {
namespace {

class Folder {
 public:
  Folder() {
    char name[] = "/tmp/atomic_file_test.XXXXXX";
    path_ = mkdtemp(name);
  }
  ~Folder() {
    for (const std::string& f : List()) ::unlink((path_ + "/" + f).c_str());
    ::rmdir(path_.c_str());
  }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }
  std::vector<std::string> List() const {
    std::vector<std::string> names;
    DIR* d = opendir(path_.c_str());
    while (dirent* e = readdir(d)) {
      if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") names.push_back(e->d_name);
    }
    closedir(d);
    return names;
  }

 private:
  std::string path_;
};

std::string Read(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

TEST(AtomicFile, ReplacesTheFileOnlyAtCommit) {
  Folder dir;
  const std::string path = dir / "out.txt";
  ASSERT_TRUE(WriteFileAtomically(path, "old").ok());
  AtomicFile f;
  ASSERT_TRUE(f.Open(path).ok());
  ASSERT_TRUE(f.Write("new ", 4).ok());
  ASSERT_TRUE(f.WriteZeros(3).ok());
  EXPECT_EQ(f.written(), 7u);
  EXPECT_EQ(Read(path), "old");  // nothing shows before the commit
  EXPECT_EQ(dir.List().size(), 2u);
  ASSERT_TRUE(f.Commit().ok());
  EXPECT_EQ(Read(path), std::string("new \0\0\0", 7));
  EXPECT_EQ(dir.List(), std::vector<std::string>{"out.txt"});
  EXPECT_FALSE(f.Write("x", 1).ok());  // closed
}

TEST(AtomicFile, AnUncommittedFileLeavesTheOldOneAndNoTrace) {
  Folder dir;
  const std::string path = dir / "out.txt";
  ASSERT_TRUE(WriteFileAtomically(path, "old").ok());
  {
    AtomicFile f;
    ASSERT_TRUE(f.Open(path).ok());
    ASSERT_TRUE(f.Write("half", 4).ok());
  }
  EXPECT_EQ(Read(path), "old");
  EXPECT_EQ(dir.List(), std::vector<std::string>{"out.txt"});
}

// Temporary files a killed run left behind (the same pid, as in a container)
// are stepped over.
TEST(AtomicFile, StepsOverLeftoverTemporaryFiles) {
  Folder dir;
  const std::string path = dir / "out.txt";
  for (int n = 0; n < 50; ++n) {
    std::ofstream(path + ".tmp." + std::to_string(getpid()) + "." + std::to_string(n)) << "left";
  }
  ASSERT_TRUE(WriteFileAtomically(path, "new").ok());
  EXPECT_EQ(Read(path), "new");
  EXPECT_EQ(dir.List().size(), 51u);
}

TEST(AtomicFile, AFolderThatDoesNotExistIsNamed) {
  Folder dir;
  const std::string path = dir / "missing/out.txt";
  const Status s = WriteFileAtomically(path, "x");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("'" + path + "': No such file or directory"), std::string::npos) << s.message();
}

// A full disk, as the process's file-size limit (RLIMIT_FSIZE: writes past it
// fail with EFBIG, as with ENOSPC on a full file system, and SIGXFSZ is
// ignored): the error says so and names the file, the old file is intact and
// no temporary file is left.
TEST(AtomicFile, AFullDiskLeavesTheOldFileIntact) {
  Folder dir;
  const std::string path = dir / "out.bin";
  ASSERT_TRUE(WriteFileAtomically(path, "the old contents").ok());
  rlimit saved;
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &saved), 0);
  struct sigaction ignore = {}, old_action;
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(sigaction(SIGXFSZ, &ignore, &old_action), 0);
  rlimit small = saved;
  small.rlim_cur = 64 << 10;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  const Status s = WriteFileAtomically(path, std::string(1 << 20, 'x'));
  setrlimit(RLIMIT_FSIZE, &saved);
  sigaction(SIGXFSZ, &old_action, nullptr);
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted) << s.ToString();
  EXPECT_NE(s.message().find("'" + path + "': File too large"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("unchanged"), std::string::npos) << s.message();
  EXPECT_EQ(Read(path), "the old contents");
  EXPECT_EQ(dir.List(), std::vector<std::string>{"out.bin"});
}

// The new file keeps the old one's permission bits.
TEST(AtomicFile, KeepsThePermissionsOfTheFileItReplaces) {
  Folder dir;
  const std::string path = dir / "script.sh";
  ASSERT_TRUE(WriteFileAtomically(path, "old").ok());
  ASSERT_EQ(::chmod(path.c_str(), 0751), 0);
  ASSERT_TRUE(WriteFileAtomically(path, "new").ok());
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0751u);
  EXPECT_EQ(Read(path), "new");
}

// A symbolic link stays a link: the file it names is replaced.
TEST(AtomicFile, FollowsASymbolicLink) {
  Folder dir;
  const std::string real = dir / "real.txt", link = dir / "link.txt";
  ASSERT_TRUE(WriteFileAtomically(real, "old").ok());
  ASSERT_EQ(::symlink("real.txt", link.c_str()), 0);
  ASSERT_TRUE(WriteFileAtomically(link, "new").ok());
  struct stat st;
  ASSERT_EQ(::lstat(link.c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_EQ(Read(real), "new");
  EXPECT_EQ(dir.List().size(), 2u);
}

// What cannot be renamed over (a pipe here; /dev/stdout and devices alike) is
// written in place.
TEST(AtomicFile, WritesAPipeInPlace) {
  Folder dir;
  const std::string fifo = dir / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::string got;
  std::thread reader([&] { got = Read(fifo); });
  const Status s = WriteFileAtomically(fifo, "through the pipe");
  if (!s.ok()) ::close(::open(fifo.c_str(), O_WRONLY));  // lets the reader's open return
  reader.join();
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(got, "through the pipe");
  struct stat st;
  ASSERT_EQ(::stat(fifo.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  EXPECT_EQ(dir.List(), std::vector<std::string>{"fifo"});
}

}  // namespace
}  // namespace logitkit::base
