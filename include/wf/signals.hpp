// SIGINT/SIGTERM handling for the whole process. install_signal_handlers() blocks SIGINT,
// SIGTERM and SIGCHLD in normal flow; ProcessSet::wait unblocks them only inside ppoll, so
// a signal cannot be lost between a check and the sleep. Handlers only record what came.
#pragma once

namespace wf {

void install_signal_handlers();
// The signal mask to use inside ppoll (the blocked set minus SIGINT/SIGTERM/SIGCHLD).
const void* wait_sigmask();  // really a const sigset_t*

// Counts of termination signals received so far, and the first one's number (0 if none).
int interrupt_count();
int first_interrupt_signal();
// For tests and for a cancel request coming from the state file.
void reset_interrupts();

// Signal dispositions/mask a child must start with (default handlers, empty mask).
// Used by the spawner.

}  // namespace wf
