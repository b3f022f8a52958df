/* The least a workflow runner must do per stage, for scripts/bench.sh: start `sh -c true`
 * with posix_spawn in a process group of its own, stdin from /dev/null, stdout and stderr on
 * pipes read until EOF with poll(2), then reap it; N times, one after the other. No state,
 * no logs, no expressions: what is left between this and a runner is the runner's own work.
 *
 *   cc -O2 -o spawn_floor scripts/spawn_floor.c && ./spawn_floor 1000
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

int main(int argc, char** argv) {
  int n = argc > 1 ? atoi(argv[1]) : 1000;
  char* child_argv[] = {"sh", "-c", "true", NULL};
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  for (int i = 0; i < n; ++i) {
    int out[2], err[2];
    if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) return perror("pipe2"), 1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    pid_t pid;
    int rc = posix_spawnp(&pid, "sh", &fa, &attr, child_argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) return fprintf(stderr, "spawn: error %d\n", rc), 1;
    close(out[1]);
    close(err[1]);
    struct pollfd p[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
    int open_fds = 2;
    char buf[4096];
    while (open_fds > 0) {
      if (poll(p, 2, -1) < 0) return perror("poll"), 1;
      for (int k = 0; k < 2; ++k) {
        if (p[k].fd < 0 || p[k].revents == 0) continue;
        if (read(p[k].fd, buf, sizeof buf) <= 0) {
          close(p[k].fd);
          p[k].fd = -1;
          --open_fds;
        }
      }
    }
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
      return fprintf(stderr, "child failed\n"), 1;
  }
  return 0;
}
