#include "wf/concurrency.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <thread>

#include "wf/signals.hpp"

namespace wf {

ConcurrencySlot::~ConcurrencySlot() {
  if (fd_ >= 0) ::close(fd_);  // closing the fd drops the flock
}

namespace {
// Group names may hold any text: keep file names safe and distinct.
std::string file_part(const std::string& group) {
  std::string out;
  for (unsigned char c : group) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.') out += static_cast<char>(c);
    else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  if (out.empty()) return "%";
  // A file name holds at most 255 bytes: a long name keeps its start and gets a hash of all
  // of it (FNV-1a, 64 bits), so distinct groups still get distinct files.
  if (out.size() > 180) {
    std::uint64_t h = 1469598103934665603ULL;
    for (unsigned char c : group) h = (h ^ c) * 1099511628211ULL;
    char buf[24];
    std::snprintf(buf, sizeof buf, "~%016llx", static_cast<unsigned long long>(h));
    out = out.substr(0, 160) + buf;
  }
  return out;
}
}  // namespace

Result<std::unique_ptr<ConcurrencySlot>> ConcurrencySlot::acquire(const std::string& state_dir,
                                                                  const std::string& group, int limit, bool wait) {
  std::error_code ec;
  std::string dir = state_dir + "/locks";
  std::filesystem::create_directories(dir, ec);
  if (ec) return Error("cannot create " + dir + ": " + ec.message());
  int interrupts = interrupt_count();
  while (true) {
    for (int slot = 0; slot < std::max(1, limit); ++slot) {
      std::string path = dir + "/" + file_part(group) + "." + std::to_string(slot) + ".lock";
      int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
      if (fd < 0) return Error("cannot open lock file " + path + ": " + std::strerror(errno));
      if (::flock(fd, LOCK_EX | LOCK_NB) == 0)
        return std::unique_ptr<ConcurrencySlot>(new ConcurrencySlot(fd, slot));
      int err = errno;
      ::close(fd);
      if (err != EWOULDBLOCK) return Error("cannot lock " + path + ": " + std::strerror(err));
    }
    take_pending_signals();  // they wait blocked while wf runs; a queued wf must still stop
    if (!wait || interrupt_count() != interrupts) return std::unique_ptr<ConcurrencySlot>();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace wf
