// Tests unique_fd (src/common/unique_fd.h): closes exactly once, a move hands
// the descriptor over, release() gives it up, reset() and close() close now,
// and errno survives the destructor.
#include "common/unique_fd.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <utility>
#include <vector>

namespace tether {
namespace {

// Open: fcntl(F_GETFD) answers; closed: EBADF.
bool is_open(int fd) { return fd >= 0 && ::fcntl(fd, F_GETFD) != -1; }

int open_null() {
  int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  EXPECT_GE(fd, 0);
  return fd;
}

TEST(UniqueFd, EmptyHoldsNothing) {
  unique_fd none;
  EXPECT_FALSE(none);
  EXPECT_EQ(none.get(), -1);
  EXPECT_EQ(none.close(), 0);  // nothing to close is not an error
  unique_fd negative(-1);
  EXPECT_FALSE(negative);
}

TEST(UniqueFd, DestructorCloses) {
  int raw = open_null();
  {
    unique_fd fd(raw);
    EXPECT_TRUE(fd);
    EXPECT_EQ(fd.get(), raw);
    EXPECT_TRUE(is_open(raw));
  }
  EXPECT_FALSE(is_open(raw));
}

TEST(UniqueFd, MoveTransfersOwnershipAndTheOldOwnerClosesNothing) {
  int raw = open_null();
  unique_fd c;
  {
    unique_fd a(raw);
    unique_fd b(std::move(a));
    EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): the moved-from state is the point
    EXPECT_EQ(b.get(), raw);
    c = std::move(b);
    EXPECT_FALSE(b);  // NOLINT(bugprone-use-after-move)
  }  // a and b go: raw must stay open
  EXPECT_EQ(c.get(), raw);
  EXPECT_TRUE(is_open(raw));
  c.reset();
  EXPECT_FALSE(is_open(raw));  // closed by the last owner
}

TEST(UniqueFd, MoveAssignClosesWhatItHeld) {
  int first = open_null();
  int second = open_null();
  unique_fd a(first);
  a = unique_fd(second);
  EXPECT_FALSE(is_open(first));
  EXPECT_TRUE(is_open(second));
  EXPECT_EQ(a.get(), second);
}

TEST(UniqueFd, ReleaseGivesItUpWithoutClosing) {
  int raw = open_null();
  int out = -1;
  {
    unique_fd fd(raw);
    out = fd.release();
    EXPECT_FALSE(fd);
  }
  EXPECT_EQ(out, raw);
  EXPECT_TRUE(is_open(raw));
  ::close(raw);
}

TEST(UniqueFd, ResetClosesNowAndTakesTheNewOne) {
  int first = open_null();
  int second = open_null();
  unique_fd fd(first);
  fd.reset(second);
  EXPECT_FALSE(is_open(first));
  EXPECT_EQ(fd.get(), second);
  fd.reset(second);  // the same one again: kept, not closed
  EXPECT_TRUE(is_open(second));
  fd.reset();
  EXPECT_FALSE(fd);
  EXPECT_FALSE(is_open(second));
}

TEST(UniqueFd, CloseReportsAndEmpties) {
  int raw = open_null();
  unique_fd fd(raw);
  EXPECT_EQ(fd.close(), 0);
  EXPECT_FALSE(fd);
  EXPECT_FALSE(is_open(raw));
  // A number that was never open: close(2)'s error comes back, errno set.
  unique_fd bogus(100000);
  errno = 0;
  EXPECT_EQ(bogus.close(), -1);
  EXPECT_EQ(errno, EBADF);
  EXPECT_FALSE(bogus);
}

TEST(UniqueFd, DestructorKeepsErrno) {
  {
    unique_fd fd(100000);  // closing it fails with EBADF
    errno = ENOENT;        // the failure the caller is about to report
  }
  EXPECT_EQ(errno, ENOENT);
}

TEST(UniqueFd, AVectorOfThemClosesEveryOne) {
  std::vector<int> raws;
  {
    std::vector<unique_fd> pool;
    for (int i = 0; i < 8; ++i) {
      raws.push_back(open_null());
      pool.emplace_back(raws.back());  // reallocation moves, never closes
    }
    for (int r : raws) EXPECT_TRUE(is_open(r));
  }
  for (int r : raws) EXPECT_FALSE(is_open(r));
}

}  // namespace
}  // namespace tether
