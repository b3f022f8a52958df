// Facts about processes on this host that tell a live process from a reused pid: the start
// time from /proc/PID/stat and the host name. Shared by the scheduler (recording its own
// process), crash recovery and release claims.
#pragma once

#include <cstdint>
#include <string>

namespace wf {

// Start time of a process in clock ticks since boot (/proc/PID/stat field 22); 0 if the
// process does not exist or is a zombie.
std::int64_t process_start_ticks(int pid);
// CLOCK_BOOTTIME in the same clock ticks: a process forked between two readings that agree
// has exactly that start time, with no /proc read.
std::int64_t boot_clock_ticks();
std::string this_host();

}  // namespace wf
