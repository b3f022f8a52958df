// Concurrency groups (FORMAT §9.2): at most `limit` runs of a group at once, across wf
// processes, with kernel flock locks on files in the state dir — a crashed holder's lock
// goes away with its process, so a lock is never stale.
#pragma once

#include <memory>
#include <string>

#include "wf/result.hpp"

namespace wf {

// A held slot of a group; the slot is released when this is destroyed (or the process ends).
class ConcurrencySlot {
 public:
  ~ConcurrencySlot();
  ConcurrencySlot(const ConcurrencySlot&) = delete;
  ConcurrencySlot& operator=(const ConcurrencySlot&) = delete;
  int slot() const { return slot_; }

  // Tries to take one of `limit` slots of `group` under `state_dir`/locks. With `wait`, polls
  // until one is free (interruptible by SIGINT/SIGTERM: then returns nullptr); without, returns
  // nullptr at once when all are taken. Errors are I/O problems with the lock files.
  static Result<std::unique_ptr<ConcurrencySlot>> acquire(const std::string& state_dir, const std::string& group,
                                                          int limit, bool wait);

 private:
  ConcurrencySlot(int fd, int slot) : fd_(fd), slot_(slot) {}
  int fd_;
  int slot_;
};

}  // namespace wf
