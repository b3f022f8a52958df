#include "wf/proc.hpp"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string_view>

namespace wf {

std::int64_t boot_clock_ticks() {
  static const long per_second = [] {
    long hz = ::sysconf(_SC_CLK_TCK);
    return hz > 0 ? hz : 100;
  }();
  timespec ts{};
  if (::clock_gettime(CLOCK_BOOTTIME, &ts) != 0) return -1;
  // As the kernel's nsec_to_clock_t for /proc/PID/stat.
  const std::int64_t ns = static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
  return ns / (1000000000 / per_second);
}

std::int64_t process_start_ticks(int pid) {
  if (pid <= 0) return 0;
  // Called once per spawned stage: plain open/read instead of streams (same parse).
  char path[32];
  std::snprintf(path, sizeof path, "/proc/%d/stat", pid);
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[4096];
  std::size_t len = 0;
  while (len < sizeof buf) {
    ssize_t n = ::read(fd, buf + len, sizeof buf - len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    len += static_cast<std::size_t>(n);
  }
  ::close(fd);
  std::string_view s(buf, len);
  auto rp = s.rfind(')');
  if (rp == std::string_view::npos || rp + 2 >= s.size()) return 0;
  std::string_view rest = s.substr(rp + 2);
  auto is_space = [](char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; };
  std::size_t pos = 0;
  // Field 3 is the state; a zombie is as good as gone.
  for (int i = 3; i <= 22; ++i) {
    while (pos < rest.size() && is_space(rest[pos])) ++pos;
    if (pos >= rest.size()) return 0;
    std::size_t end = pos;
    while (end < rest.size() && !is_space(rest[end])) ++end;
    std::string_view field = rest.substr(pos, end - pos);
    pos = end;
    if (i == 3 && field == "Z") return 0;
    if (i == 22) {
      // As std::stoll: optional sign and leading digits; no digits (or overflow) gives 0.
      std::int64_t v = 0;
      auto r = std::from_chars(field.data() + (field[0] == '+' ? 1 : 0), field.data() + field.size(), v);
      return r.ec == std::errc() ? v : 0;
    }
  }
  return 0;
}

std::string this_host() {
  char host[256] = {0};
  ::gethostname(host, sizeof host - 1);
  return host;
}

}  // namespace wf
