// open_fds(): how many file descriptors this process holds now, for tests
// that check a part closes what it opened on every path.
#pragma once
#include <dirent.h>

namespace tether::test_support {

inline int open_fds() {
  int n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) return -1;
  while (dirent* e = ::readdir(d)) n += e->d_name[0] != '.';
  ::closedir(d);
  return n - 1;  // the directory's own descriptor
}

}  // namespace tether::test_support
