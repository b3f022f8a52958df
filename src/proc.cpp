#include "wf/proc.hpp"

#include <unistd.h>

#include <fstream>
#include <sstream>

namespace wf {

std::int64_t process_start_ticks(int pid) {
  if (pid <= 0) return 0;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  auto rp = s.rfind(')');
  if (rp == std::string::npos || rp + 2 >= s.size()) return 0;
  std::istringstream rest(s.substr(rp + 2));
  std::string field;
  // Field 3 is the state; a zombie is as good as gone.
  for (int i = 3; i <= 22 && rest >> field; ++i) {
    if (i == 3 && field == "Z") return 0;
    if (i == 22) {
      try {
        return std::stoll(field);
      } catch (...) {
        return 0;
      }
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
