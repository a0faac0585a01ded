// fcgi_hello: the smallest multi-threaded libfcgi responder, the benchmark's
// baseline ("raw FastCGI hello"). N threads call FCGX_Accept_r on one socket
// and answer "hello". Usage: fcgi_hello unix:/path.sock|127.0.0.1:port [threads]
#include <fcgiapp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s unix:/path.sock|127.0.0.1:port [threads]\n", argv[0]);
    return 2;
  }
  std::string addr = argv[1];
  int threads = argc > 2 ? atoi(argv[2]) : 16;
  FCGX_Init();
  int fd;
  if (addr.rfind("unix:", 0) == 0) {
    unlink(addr.c_str() + 5);
    fd = FCGX_OpenSocket(addr.c_str() + 5, 1024);
    chmod(addr.c_str() + 5, 0666);
  } else {
    fd = FCGX_OpenSocket(addr.c_str(), 1024);
  }
  if (fd < 0) {
    perror("FCGX_OpenSocket");
    return 1;
  }
  // SIGTERM/SIGINT end the process (threads blocked in accept never return).
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) {
    pool.emplace_back([fd] {
      FCGX_Request r;
      FCGX_InitRequest(&r, fd, 0);
      static const char kReply[] = "Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\nhello\n";
      char buf[4096];
      while (FCGX_Accept_r(&r) >= 0) {
        while (FCGX_GetStr(buf, sizeof buf, r.in) > 0) {
        }  // read the body to its end, as tether does: keeps the connection usable
        FCGX_PutStr(kReply, sizeof kReply - 1, r.out);
        FCGX_Finish_r(&r);
      }
    });
  }
  int sig = 0;
  sigwait(&sigs, &sig);
  _exit(0);
}
