// SIGINT/SIGTERM handling for the whole process. install_signal_handlers() blocks SIGINT,
// SIGTERM and SIGCHLD in normal flow; ProcessSet::wait unblocks them only inside ppoll, so
// a signal cannot be lost between a check and the sleep. Handlers only record what came.
// What to do about an interrupt (cancel stages, exit 130/143) is the caller's business.
#pragma once

#include <signal.h>

namespace wf {

// Every signal whose action install_signal_handlers() sets (handled, or SIGPIPE ignored); wf
// changes no other. A child must set these back to the default before it execs.
inline constexpr int kSignalsWfSets[] = {SIGINT, SIGTERM, SIGCHLD, SIGUSR1, SIGPIPE};

// Installs the SIGINT/SIGTERM/SIGCHLD handlers, ignores SIGPIPE and blocks the three in the
// calling thread (threads created later inherit that). Call once from main, before any
// thread or child is started. Calling it again only re-installs the handlers (in case
// someone, e.g. a test framework, replaced them).
void install_signal_handlers();
// Undoes install_signal_handlers(): default dispositions for SIGINT/SIGTERM/SIGCHLD/SIGPIPE
// and the mask from before. For tests of the no-handler path.
void uninstall_signal_handlers();
bool signal_handlers_installed();

// The signal mask to use inside ppoll: the blocked set minus SIGINT/SIGTERM/SIGCHLD once
// the handlers are installed, the calling thread's current mask otherwise.
const sigset_t* wait_sigmask();

// Lets SIGINT, SIGTERM and SIGUSR1 that wait blocked reach their handlers now (for work that
// runs long without a ppoll); cheap (one sigpending) when none waits.
void take_pending_signals();

// Counts of termination signals received so far, and the first one's number (0 if none).
int interrupt_count();
int first_interrupt_signal();
// For tests and for a cancel request coming from the state file.
void reset_interrupts();

// SIGUSR1 is how `wf cancel` asks a running wf to cancel its run (exit 3, not 143).
int cancel_request_count();

// How many SIGCHLDs the handler has seen; ProcessSet reaps when this changes.
unsigned long child_signal_count();

}  // namespace wf
