/* Host (SIL) firmware: the core serving Modbus RTU on a pty it creates, or on stdin/stdout. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "mb_server.h"
#include "port.h"

#define HOST_PATH_MAX 256
/* A pty has no line timing, so the RTU 3.5-character silence (0.3 ms at 115200 baud) means
   nothing here; 50 ms is far longer than any gap inside one write and far shorter than the
   host link's 0.5 s timeout, after which the host sends again. */
#define HOST_IDLE_MS 50
#define HOST_CONTROL_MAX 64   /* longest control line */

static const char usage[] =
    "usage: skycrane-sil [--stdio] [--link PATH] [--unit N] [--idle-ms MS] [--step-delay-us N]\n"
    "  Serves the descent controller over Modbus RTU. Without --stdio it creates a pty,\n"
    "  prints 'PTY <slave path>' on stdout and serves the master side until SIGTERM/SIGINT.\n"
    "  --stdio       serve binary Modbus RTU on stdin/stdout instead (ends at end of input)\n"
    "  --link PATH   also make PATH a symlink to the pty slave (removed at exit)\n"
    "  --unit N      Modbus unit address, 1..247 (default 1)\n"
    "  --idle-ms MS  line silence after which a partial frame is dropped (default 50; 0: never)\n"
    "  --step-delay-us N  make every control step take at least N us (busy wait, counted in\n"
    "                step_time_us): a deliberately slow MCU (default 0, at most 1000000)\n"
    "  Without --stdio, when stdin is a pipe its lines are control commands, each answered\n"
    "  on stdout with 'control: ok COMMAND' or 'control: refused LINE':\n"
    "    step-delay-us N   the same as the option, from now on (0 restores)\n";

struct host_options {
    int stdio;
    const char *link;
    unsigned unit;
    int idle_ms;
    uint32_t step_delay_us;
};

static struct app host_app;
static struct mb_server host_server;
static int host_signal_pipe[2] = {-1, -1};
static char host_control_line[HOST_CONTROL_MAX];
static size_t host_control_len;
static int host_control_overlong;             /* discarding a line too long to be a command */

// SIGTERM / SIGINT: wake the poll loop through the self-pipe
static void host_on_signal(int signo)
{
    int saved = errno;
    unsigned char byte = (unsigned char)signo;
    if (write(host_signal_pipe[1], &byte, 1) < 0) {
        /* the pipe is full: a wake-up is already pending */
    }
    errno = saved;
}

// A whole number in [low, high] from text, or -1
static long host_number(const char *text, long low, long high)
{
    char *end;
    long value;
    errno = 0;
    value = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < low || value > high)
        return -1;
    return value;
}

// Parse the command line; returns 0, or 2 after printing why
static int host_parse(int argc, char **argv, struct host_options *opt)
{
    int i;
    long value;
    opt->stdio = 0;
    opt->link = NULL;
    opt->unit = 1;
    opt->idle_ms = HOST_IDLE_MS;
    opt->step_delay_us = 0;
    for (i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(arg, "--stdio") == 0) {
            opt->stdio = 1;
        } else if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            fputs(usage, stdout);
            exit(0);
        } else if (strcmp(arg, "--link") == 0 && next != NULL) {
            opt->link = next;
            i++;
        } else if (strcmp(arg, "--unit") == 0 && next != NULL
                   && (value = host_number(next, 1, MB_UNIT_MAX)) > 0) {
            opt->unit = (unsigned)value;
            i++;
        } else if (strcmp(arg, "--idle-ms") == 0 && next != NULL
                   && (value = host_number(next, 0, 60000)) >= 0) {
            opt->idle_ms = (int)value;
            i++;
        } else if (strcmp(arg, "--step-delay-us") == 0 && next != NULL
                   && (value = host_number(next, 0, 1000000)) >= 0) {
            opt->step_delay_us = (uint32_t)value;
            i++;
        } else {
            fprintf(stderr, "skycrane-sil: bad argument '%s'\n%s", arg, usage);
            return 2;
        }
    }
    if (opt->stdio && opt->link != NULL) {
        fprintf(stderr, "skycrane-sil: --link needs the pty (leave out --stdio)\n");
        return 2;
    }
    return 0;
}

// Make `link` a symlink to `target`, replacing an older symlink but never another file
static int host_make_link(const char *link, const char *target)
{
    struct stat st;
    if (lstat(link, &st) == 0) {
        if (!S_ISLNK(st.st_mode)) {
            fprintf(stderr, "skycrane-sil: --link %s exists and is not a symlink\n", link);
            return -1;
        }
        unlink(link);
    }
    if (symlink(target, link) != 0) {
        fprintf(stderr, "skycrane-sil: cannot create symlink %s: %s\n", link, strerror(errno));
        return -1;
    }
    return 0;
}

// Remove our symlink if it still points at our pty
static void host_remove_link(const char *link, const char *target)
{
    char current[HOST_PATH_MAX];
    ssize_t n = readlink(link, current, sizeof(current) - 1u);
    if (n >= 0) {
        current[n] = '\0';
        if (strcmp(current, target) == 0)
            unlink(link);
    }
}

// Catch SIGTERM and SIGINT through a self-pipe; ignore SIGPIPE (a closed reader)
static int host_signals(void)
{
    struct sigaction sa;
    int i;
    if (pipe(host_signal_pipe) != 0)
        return -1;
    for (i = 0; i < 2; i++) {
        fcntl(host_signal_pipe[i], F_SETFL, fcntl(host_signal_pipe[i], F_GETFL) | O_NONBLOCK);
        fcntl(host_signal_pipe[i], F_SETFD, FD_CLOEXEC);
    }
    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = host_on_signal;
    if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0)
        return -1;
    sa.sa_handler = SIG_IGN;
    return sigaction(SIGPIPE, &sa, NULL);
}

// Monotonic milliseconds (for the line-silence deadline)
static int64_t host_now_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

// Arm the one-shot timer `wait_us` from now (at least 1 us), or disarm it for APP_POLL_IDLE.
// `armed` says whether it may be running: lockstep never arms it, and then costs no syscall.
static void host_arm(int timer_fd, uint32_t wait_us, int *armed)
{
    struct itimerspec spec;
    if (wait_us == APP_POLL_IDLE && !*armed)
        return;
    *armed = wait_us != APP_POLL_IDLE;
    memset(&spec, 0, sizeof(spec));
    if (wait_us != APP_POLL_IDLE) {
        if (wait_us == 0u)
            wait_us = 1u;                        /* all zero would disarm it */
        spec.it_value.tv_sec = (time_t)(wait_us / 1000000u);
        spec.it_value.tv_nsec = (long)(wait_us % 1000000u) * 1000L;
    }
    if (timerfd_settime(timer_fd, 0, &spec, NULL) != 0)
        port_fault("timerfd_settime failed");
}

// The control channel: stdin when it is a pipe (the host's runtime switches), else none (-1)
static int host_control_fd(const struct host_options *opt)
{
    struct stat st;
    if (opt->stdio || fstat(STDIN_FILENO, &st) != 0 || !S_ISFIFO(st.st_mode))
        return -1;                               /* --stdio: stdin is the Modbus line */
    fcntl(STDIN_FILENO, F_SETFL, fcntl(STDIN_FILENO, F_GETFL) | O_NONBLOCK);
    return STDIN_FILENO;
}

// Carry out one control line and answer it on stdout
static void host_control_command(const char *line)
{
    static const char step_delay[] = "step-delay-us ";
    long us;
    if (strncmp(line, step_delay, sizeof(step_delay) - 1u) == 0
        && (us = host_number(line + sizeof(step_delay) - 1u, 0, 1000000)) >= 0) {
        host_app.step_delay_us = (uint32_t)us;   /* app_step reads it at the next step */
        printf("control: ok step-delay-us %ld\n", us);
    } else {
        printf("control: refused '%s' (commands: step-delay-us 0..1000000)\n", line);
    }
    fflush(stdout);
}

// Read what the control pipe holds and run each complete line; returns -1 at its end
static int host_control_read(int fd)
{
    char buf[256];
    ssize_t n = read(fd, buf, sizeof(buf));
    ssize_t i;
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
        return -1;                               /* the host closed it: no more commands */
    for (i = 0; i < n; i++) {
        if (buf[i] == '\n') {
            host_control_line[host_control_len] = '\0';
            if (host_control_overlong)
                printf("control: refused a line longer than %d bytes\n", HOST_CONTROL_MAX - 1);
            else if (host_control_len > 0)
                host_control_command(host_control_line);
            fflush(stdout);
            host_control_len = 0;
            host_control_overlong = 0;
        } else if (host_control_len + 1u < sizeof(host_control_line)) {
            host_control_line[host_control_len++] = buf[i];
        } else {
            host_control_overlong = 1;
        }
    }
    return 0;
}

/*
 * Serve until a signal or end of input. Blocks in poll on the line, the signal pipe and a
 * one-shot timerfd that app_poll arms for the next real-time step: no busy loop. After input,
 * a silence of idle_ms (an absolute deadline, so timer wake-ups do not extend it) makes the
 * server drop a partial frame.
 */
static void host_serve(int in_fd, int idle_ms, int timer_fd, int control_fd)
{
    uint8_t buf[512];
    struct pollfd fds[4];
    int64_t idle_deadline = -1;                  /* ms, while bytes since the last silence wait */
    int armed = 0;                               /* the step timer may be running */
    for (;;) {
        int ready, timeout = -1;
        host_arm(timer_fd, app_poll(&host_app), &armed); /* runs a due step or the watchdog */
        if (idle_deadline >= 0) {
            int64_t left = idle_deadline - host_now_ms();
            timeout = left > 0 ? (int)left : 0;
        }
        fds[0].fd = in_fd;
        fds[0].events = POLLIN;
        fds[0].revents = 0;
        fds[1].fd = host_signal_pipe[0];
        fds[1].events = POLLIN;
        fds[1].revents = 0;
        fds[2].fd = timer_fd;
        fds[2].events = POLLIN;
        fds[2].revents = 0;
        fds[3].fd = control_fd;                  /* -1: poll leaves it out */
        fds[3].events = POLLIN;
        fds[3].revents = 0;
        ready = poll(fds, 4, timeout);
        if (ready < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "skycrane-sil: poll: %s\n", strerror(errno));
            return;
        }
        if (fds[1].revents != 0)
            return;
        if (fds[3].revents != 0 && host_control_read(control_fd) < 0)
            control_fd = -1;
        if (fds[2].revents != 0) {
            uint64_t expirations;
            if (read(timer_fd, &expirations, sizeof(expirations)) < 0) {
                /* EAGAIN: re-armed meanwhile; the loop polls the app anyway */
            }
        }
        if (fds[0].revents != 0) {
            ssize_t n = read(in_fd, buf, sizeof(buf));
            if (n > 0) {
                mb_server_feed(&host_server, buf, (uint16_t)n);
                idle_deadline = idle_ms > 0 ? host_now_ms() + idle_ms : -1;
                continue;
            } else if (n == 0) {
                return;                          /* end of input (--stdio) */
            } else if (errno == EIO) {
                poll(&fds[1], 1, 10);            /* pty without a client: wait for one */
            } else if (errno != EAGAIN && errno != EINTR) {
                fprintf(stderr, "skycrane-sil: read: %s\n", strerror(errno));
                return;
            }
        }
        if (idle_deadline >= 0 && host_now_ms() >= idle_deadline) {
            mb_server_idle(&host_server);
            idle_deadline = -1;
        }
    }
}

int main(int argc, char **argv)
{
    struct host_options opt;
    char slave_path[HOST_PATH_MAX];
    int in_fd, slave_fd = -1, timer_fd, status;
    status = host_parse(argc, argv, &opt);
    if (status != 0)
        return status;
    if (host_signals() != 0) {
        fprintf(stderr, "skycrane-sil: cannot set up signals: %s\n", strerror(errno));
        return 1;
    }
    if (opt.stdio) {
        in_fd = STDIN_FILENO;
        host_uart_set_fd(STDOUT_FILENO);
    } else {
        in_fd = host_open_pty(slave_path, sizeof(slave_path), &slave_fd);
        if (in_fd < 0) {
            fprintf(stderr, "skycrane-sil: cannot open a pty: %s\n", strerror(errno));
            return 1;
        }
        host_uart_set_fd(in_fd);
        if (opt.link != NULL && host_make_link(opt.link, slave_path) != 0)
            return 1;
        printf("PTY %s\n", slave_path);
        fflush(stdout);
    }
    timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (timer_fd < 0) {
        fprintf(stderr, "skycrane-sil: cannot create the step timer: %s\n", strerror(errno));
        return 1;
    }
    app_init(&host_app);
    host_app.step_delay_us = opt.step_delay_us;
    mb_server_init(&host_server, (uint8_t)opt.unit, app_read, app_write, &host_app);
    host_serve(in_fd, opt.idle_ms, timer_fd, host_control_fd(&opt));
    close(timer_fd);
    if (!opt.stdio) {
        if (opt.link != NULL)
            host_remove_link(opt.link, slave_path);
        close(slave_fd);
        close(in_fd);
    }
    return 0;
}
