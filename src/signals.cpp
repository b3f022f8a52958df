// Process-wide signal state. The handlers touch only lock-free atomics, so they are
// async-signal-safe; everything else happens in the wait loop that observes the counters.
#include "wf/signals.hpp"

#include <pthread.h>

#include <atomic>

namespace wf {
namespace {

std::atomic<int> g_interrupts{0};
std::atomic<int> g_first_interrupt{0};
std::atomic<unsigned long> g_child_signals{0};
std::atomic<int> g_cancel_requests{0};
std::atomic<bool> g_installed{false};
sigset_t g_wait_mask;      // written once by install, before anyone reads it
sigset_t g_mask_before;    // the mask install replaced, for uninstall
thread_local sigset_t t_current_mask;

static_assert(std::atomic<int>::is_always_lock_free);
static_assert(std::atomic<unsigned long>::is_always_lock_free);

void on_interrupt(int sig) {
  int none = 0;
  g_first_interrupt.compare_exchange_strong(none, sig);
  g_interrupts.fetch_add(1);
}

void on_child(int) { g_child_signals.fetch_add(1); }

void on_cancel_request(int) { g_cancel_requests.fetch_add(1); }

void set_handler(int sig, void (*handler)(int), int flags) {
  struct sigaction sa {};
  sa.sa_handler = handler;
  sa.sa_flags = flags;
  sigemptyset(&sa.sa_mask);
  sigaction(sig, &sa, nullptr);
}

sigset_t handled_set() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGCHLD);
  sigaddset(&set, SIGUSR1);
  return set;
}

}  // namespace

void install_signal_handlers() {
  // SA_RESTART only matters for a thread that has these unblocked by mistake.
  set_handler(SIGINT, on_interrupt, SA_RESTART);
  set_handler(SIGTERM, on_interrupt, SA_RESTART);
  set_handler(SIGCHLD, on_child, SA_RESTART | SA_NOCLDSTOP);
  set_handler(SIGUSR1, on_cancel_request, SA_RESTART);
  set_handler(SIGPIPE, SIG_IGN, 0);
  if (g_installed.load()) return;  // handlers re-asserted; the mask stays as first set

  const sigset_t handled = handled_set();
  pthread_sigmask(SIG_BLOCK, &handled, &g_mask_before);
  g_wait_mask = g_mask_before;
  sigdelset(&g_wait_mask, SIGINT);
  sigdelset(&g_wait_mask, SIGTERM);
  sigdelset(&g_wait_mask, SIGCHLD);
  sigdelset(&g_wait_mask, SIGUSR1);
  g_installed.store(true);
}

void uninstall_signal_handlers() {
  if (!g_installed.load()) return;
  for (int sig : kSignalsWfSets) set_handler(sig, SIG_DFL, 0);
  pthread_sigmask(SIG_SETMASK, &g_mask_before, nullptr);
  g_installed.store(false);
}

bool signal_handlers_installed() { return g_installed.load(); }

const sigset_t* wait_sigmask() {
  if (g_installed.load()) return &g_wait_mask;
  pthread_sigmask(SIG_BLOCK, nullptr, &t_current_mask);
  return &t_current_mask;
}

void take_pending_signals() {
  if (!g_installed.load()) return;
  sigset_t pending;
  if (sigpending(&pending) != 0) return;
  if (!sigismember(&pending, SIGINT) && !sigismember(&pending, SIGTERM) && !sigismember(&pending, SIGUSR1)) return;
  // Their handlers run while they are unblocked, here and now; SIGCHLD stays for ppoll.
  sigset_t take;
  sigemptyset(&take);
  for (int sig : {SIGINT, SIGTERM, SIGUSR1}) sigaddset(&take, sig);
  pthread_sigmask(SIG_UNBLOCK, &take, nullptr);
  pthread_sigmask(SIG_BLOCK, &take, nullptr);
}

int interrupt_count() { return g_interrupts.load(); }
int first_interrupt_signal() { return g_first_interrupt.load(); }

void reset_interrupts() {
  g_interrupts.store(0);
  g_first_interrupt.store(0);
}

unsigned long child_signal_count() { return g_child_signals.load(); }

int cancel_request_count() { return g_cancel_requests.load(); }

}  // namespace wf
