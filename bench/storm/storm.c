/*
 * Exec storm driver for the event-source benchmarks: W workers each fork + exec
 * `/bin/true storm-<worker>-<i>` and wait, N times in all, as fast as the machine allows.
 * It prints one line per child, "pid argv1", to the file named by argv[3], so the
 * benchmark knows exactly which processes were made and what their argv was.
 *
 * usage: storm TOTAL WORKERS PIDFILE
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static int run_worker(int worker, int count, FILE *out) {
    char arg[64];
    for (int i = 0; i < count; i++) {
        snprintf(arg, sizeof arg, "storm-%d-%d", worker, i);
        pid_t pid = fork();
        if (pid < 0) { perror("fork"); return 1; }
        if (pid == 0) {
            execl("/bin/true", "/bin/true", arg, (char *)NULL);
            _exit(127);
        }
        fprintf(out, "%d %s\n", pid, arg);
        int status;
        waitpid(pid, &status, 0);
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: storm TOTAL WORKERS PIDFILE\n"); return 2; }
    int total = atoi(argv[1]), workers = atoi(argv[2]);
    if (total <= 0 || workers <= 0) { fprintf(stderr, "storm: TOTAL and WORKERS must be positive\n"); return 2; }
    for (int w = 0; w < workers; w++) {
        pid_t pid = fork();
        if (pid == 0) {
            char path[4096];
            snprintf(path, sizeof path, "%s.%d", argv[3], w);
            FILE *out = fopen(path, "w");
            if (!out) { perror(path); _exit(1); }
            int rc = run_worker(w, total / workers + (w < total % workers), out);
            fclose(out);
            _exit(rc);
        }
    }
    int failed = 0, status;
    while (wait(&status) > 0) failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    return failed;
}
