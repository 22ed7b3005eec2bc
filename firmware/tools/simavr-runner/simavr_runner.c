/* simavr runner: an AVR firmware ELF under simavr, its UART0 bridged to a pty it creates. */
#define _DEFAULT_SOURCE     /* cfmakeraw */
#define _XOPEN_SOURCE 600   /* posix_openpt, grantpt, ptsname */
#define _GNU_SOURCE         /* ppoll (--realtime) */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <termios.h>
#include <time.h>
#include <time.h>
#include <unistd.h>

#include <simavr/avr_timer.h>
#include <simavr/avr_uart.h>
#include <simavr/sim_avr.h>
#include <simavr/sim_elf.h>
#include <simavr/sim_interrupts.h>
#include <simavr/sim_irq.h>
#include <simavr/sim_regbit.h>

#define RUNNER_OUT_MAX 512          /* UART bytes gathered before a write to the pty */
#define RUNNER_POLL_CYCLES 2000     /* AVR cycles between non-blocking looks at the pty */
#define RUNNER_IDLE_WAIT_MS 20      /* longest block in poll while the AVR sleeps */
#define RUNNER_QUIET_US 2000        /* a sleep longer than this (emulated) may block */
#define RUNNER_AHEAD_NS 200000      /* --realtime: emulated time this far ahead of host time waits */
#define RUNNER_LATE_NS 1000000      /* --realtime: this far behind counts as falling behind */

static const char usage[] =
    "usage: simavr-runner [--mcu atmega328p|atmega2560] [--freq HZ] [--realtime] FIRMWARE.elf\n"
    "  Runs the firmware under simavr with UART0 on a new pty, prints 'PTY <slave path>'\n"
    "  on stdout and runs until SIGTERM/SIGINT (or the firmware stops: exit 1).\n"
    "  Runs as fast as it can; blocks on the pty only while the AVR sleeps.\n"
    "  --realtime  paces emulated time to the host's CLOCK_MONOTONIC (both start at the\n"
    "              first instruction): waits while the AVR runs ahead, sleeps the AVR's\n"
    "              sleeps in host time (a byte from the pty ends the sleep at the host time\n"
    "              it came), runs flat out when behind; prints how far behind it fell at exit.\n"
    "  SIGUSR1 resets the AVR core (as its reset pin would; the pty stays) and prints\n"
    "  'RESET <count>' on stdout once done.\n";

struct runner {
    avr_t *avr;
    avr_irq_t *uart_in;             /* UART_IRQ_INPUT: bytes to the AVR */
    int master;                     /* pty master */
    int xoff;                       /* the UART's input fifo is full */
    uint8_t out[RUNNER_OUT_MAX];    /* bytes from the AVR not yet written */
    size_t out_len;
    uint8_t in[256];                /* bytes read from the pty, not yet given to the AVR */
    size_t in_pos, in_len;
    avr_cycle_count_t quiet;        /* RUNNER_QUIET_US in cycles */
    int wake;                       /* input waits: inject at the next pass of the main loop */
    /* --realtime */
    int realtime;
    uint64_t freq;                  /* AVR clock, Hz */
    uint64_t host0_ns;              /* CLOCK_MONOTONIC at the first instruction */
    avr_cycle_count_t cycle0;       /* the cycle count then */
    unsigned long checks, behind;   /* pacing checks; of them, more than RUNNER_LATE_NS behind */
    uint64_t max_behind_ns;         /* the most emulated time was behind host time */
    unsigned long early_wakes;      /* AVR sleeps ended early by bytes from the pty */
};

static struct runner runner;
static volatile sig_atomic_t runner_stop;
static volatile sig_atomic_t runner_reset_asked;  /* SIGUSR1: reset between two avr_run calls */

static void runner_on_signal(int signo)
{
    if (signo == SIGUSR1)
        runner_reset_asked = 1;
    else
        runner_stop = 1;
}

// Write the gathered UART output to the pty (drops it when nobody reads for a long time)
static void runner_flush(struct runner *r)
{
    size_t done = 0;
    while (done < r->out_len) {
        ssize_t n = write(r->master, r->out + done, r->out_len - done);
        if (n > 0) {
            done += (size_t)n;
        } else if (n < 0 && errno == EAGAIN) {
            struct pollfd p = {r->master, POLLOUT, 0};
            if (poll(&p, 1, 1000) == 0)
                break;
        } else if (n < 0 && errno != EINTR) {
            break;
        }
    }
    r->out_len = 0;
}

// UART_IRQ_OUTPUT: one byte sent by the AVR
static void runner_uart_out(struct avr_irq_t *irq, uint32_t value, void *param)
{
    struct runner *r = param;
    (void)irq;
    r->out[r->out_len++] = (uint8_t)value;
    if (r->out_len == sizeof(r->out))
        runner_flush(r);
}

// UART_IRQ_OUT_XON: the input fifo has room again (raised as the AVR reads it). Refill at
// the next pass of the main loop, i.e. after this instruction: waiting for the next look at
// the pty would leave a gap mid-request that the firmware takes for the end of the frame.
static void runner_uart_xon(struct avr_irq_t *irq, uint32_t value, void *param)
{
    struct runner *r = param;
    (void)irq;
    if (value) {
        r->xoff = 0;
        r->wake = r->in_pos < r->in_len;
    }
}

// UART_IRQ_OUT_XOFF: 1 when the input fifo is full, 0 when it has room
static void runner_uart_xoff(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    ((struct runner *)param)->xoff = value != 0;
}

// Hand bytes read from the pty to the UART until its fifo is full; read more when empty.
// Returns nonzero when bytes are still waiting (on the pty side or here).
static int runner_pump(struct runner *r, int wait_ms)
{
    if (r->in_pos == r->in_len) {
        struct pollfd p = {r->master, POLLIN, 0};
        ssize_t n;
        if (poll(&p, 1, wait_ms) <= 0)
            return 0;
        n = read(r->master, r->in, sizeof(r->in));
        if (n <= 0)
            return 0;              /* EIO: no client on the slave side yet */
        r->in_pos = 0;
        r->in_len = (size_t)n;
    }
    while (r->in_pos < r->in_len && !r->xoff)
        avr_raise_irq(r->uart_in, r->in[r->in_pos++]);
    return r->in_pos < r->in_len;
}

static uint64_t runner_host_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

// Emulated nanoseconds since the first instruction at a cycle count (no overflow for ages)
static uint64_t runner_emu_ns(const struct runner *r, avr_cycle_count_t cycle)
{
    uint64_t c = cycle - r->cycle0;
    return c / r->freq * 1000000000u + c % r->freq * 1000000000u / r->freq;
}

// Emulated nanoseconds minus host nanoseconds since the first instruction, at a cycle count
static int64_t runner_ahead_ns(struct runner *r, avr_cycle_count_t cycle, uint64_t host_ns)
{
    int64_t ahead = (int64_t)runner_emu_ns(r, cycle) - (int64_t)(host_ns - r->host0_ns);
    r->checks++;
    if (-ahead > RUNNER_LATE_NS)
        r->behind++;
    if (ahead < 0 && (uint64_t)-ahead > r->max_behind_ns)
        r->max_behind_ns = (uint64_t)-ahead;
    return ahead;
}

// Cycles of host time from the first instruction to host_ns
static avr_cycle_count_t runner_host_cycles(const struct runner *r, uint64_t host_ns)
{
    uint64_t ns = host_ns - r->host0_ns;
    return r->cycle0 + ns / 1000000000u * r->freq + ns % 1000000000u * r->freq / 1000000000u;
}

// Wait up to ns (on the pty too unless watch_pty is 0); returns 1 when the pty has bytes
static int runner_wait(struct runner *r, int64_t ns, int watch_pty)
{
    struct pollfd p = {r->master, POLLIN, 0};
    struct timespec ts;
    if (ns < 0)
        ns = 0;
    ts.tv_sec = (time_t)(ns / 1000000000);
    ts.tv_nsec = (long)(ns % 1000000000);
    if (ppoll(&p, watch_pty ? 1 : 0, &ts, NULL) <= 0)
        return 0;
    if (p.revents & POLLIN)
        return 1;
    /* POLLHUP: no client has the pty open yet, so poll returns at once. Wait anyway (1 ms at
       most, to notice the client soon), or emulated time runs ahead of the host's before the
       first request and the AVR then waits for the host to catch up while a request waits. */
    if (ns > 1000000)
        ns = 1000000;
    ts.tv_sec = 0;
    ts.tv_nsec = (long)ns;
    nanosleep(&ts, NULL);
    return 0;
}

// --realtime, while the AVR runs: wait (for bytes too) when it is ahead of the host clock
static void runner_pace(struct runner *r)
{
    int64_t ahead = runner_ahead_ns(r, r->avr->cycle, runner_host_ns());
    if (ahead > RUNNER_AHEAD_NS && runner_wait(r, ahead, r->in_pos == r->in_len))
        r->wake = 1;
}

// --realtime sleep callback: sleep the AVR's sleep in host time, until the next timer event
// (how_long cycles away) is due on the host clock. Bytes arriving earlier end it there: the
// clock advances only by the cycles that passed on the host (simavr adds how_long + 1 after
// this returns, so the cycle count is set back by the rest), and the main loop hands them to
// the UART at that emulated time.
static void runner_sleep_realtime(avr_t *avr, avr_cycle_count_t how_long)
{
    struct runner *r = &runner;
    int64_t ahead;
    runner_flush(r);
    ahead = runner_ahead_ns(r, avr->cycle + how_long + 1, runner_host_ns());
    if (ahead <= 0) {              /* behind (or just in time): no wait, but look at the pty */
        if (r->in_pos < r->in_len || runner_wait(r, 0, 1))
            r->wake = 1;
        return;
    }
    if (r->in_pos < r->in_len) {   /* bytes wait for room in the UART's fifo: just pace */
        runner_wait(r, ahead, 0);
        r->wake = 1;
    } else if (runner_wait(r, ahead, 1) || runner_stop) {
        avr_cycle_count_t now = runner_host_cycles(r, runner_host_ns()), passed = 0;
        if (now > avr->cycle)
            passed = now - avr->cycle;
        if (passed < how_long) {
            avr->cycle -= how_long - passed;
            r->early_wakes += !runner_stop;
        }
        r->wake = 1;
    }
}

// simavr's sleep callback: the AVR sleeps until an interrupt, the next timer event being
// how_long cycles away. simavr's own callback sleeps that long in real time; this one never
// throttles. It blocks on the pty (returning as soon as a byte comes) only when nothing is
// due soon, i.e. the AVR waits for a request; while the UART still delivers a request's
// bytes or the silence wake-up is pending, it does not wait at all.
// It never hands bytes to the UART itself: simavr adds how_long to the clock after this
// returns, and a UART receive timer started before that jump would be overdue and deliver
// its bytes in a burst (seen: the AVR then saw a gap mid-request and dropped the frame).
// The main loop injects them once the clock is current.
static void runner_sleep(avr_t *avr, avr_cycle_count_t how_long)
{
    struct pollfd p = {runner.master, POLLIN, 0};
    (void)avr;
    runner_flush(&runner);
    if (runner.in_pos < runner.in_len)
        runner.wake = 1;
    else if (poll(&p, 1, how_long > runner.quiet ? RUNNER_IDLE_WAIT_MS : 0) > 0)
        runner.wake = 1;
}

// A write to a timer's interrupt flag register (TIFRn), write-one-to-clear as on the chip: a
// flag written 1 is cleared with its pending interrupt, a flag written 0 is left alone.
// simavr 1.6's own handler (avr_timer_write_pending) also drops a raised flag written 0:
// `TIFR1 = 1 << OCF1B` (the silence alarm, from the receive interrupt, interrupts off) with an
// overflow pending lost that overflow, and port_time_us() fell 32.768 ms behind (seen about
// once a second under real-time traffic). Newer simavr does what this does.
static void runner_tifr_write(struct avr_t *avr, avr_io_addr_t addr, uint8_t v, void *param)
{
    avr_timer_t *p = param;
    int i;
    if (p->overflow.raised.reg == addr && avr_regbit_from_value(avr, p->overflow.raised, v))
        avr_clear_interrupt(avr, &p->overflow);
    if (p->icr.raised.reg == addr && avr_regbit_from_value(avr, p->icr.raised, v))
        avr_clear_interrupt(avr, &p->icr);
    for (i = 0; i < AVR_TIMER_COMP_COUNT; i++)
        if (p->comp[i].interrupt.raised.reg == addr && avr_regbit_from_value(avr, p->comp[i].interrupt.raised, v))
            avr_clear_interrupt(avr, &p->comp[i].interrupt);
}

// Put runner_tifr_write in place of simavr's handler for every timer's TIFRn; returns how many
static int runner_fix_tifr(avr_t *avr)
{
    avr_io_t *io;
    int fixed = 0;
    for (io = avr->io_port; io != NULL; io = io->next) {
        avr_timer_t *p = (avr_timer_t *)io;
        avr_io_addr_t addr;
        if (io->kind == NULL || strcmp(io->kind, "timer") != 0 || p->overflow.raised.reg < 32)
            continue;
        addr = AVR_DATA_TO_IO(p->overflow.raised.reg);
        if (addr < MAX_IOs && avr->io[addr].w.param == p && avr->io[addr].w.c != NULL) {
            avr->io[addr].w.c = runner_tifr_write;
            fixed++;
        }
    }
    return fixed;
}

// simavr's messages: warnings and errors to stderr, never on stdout (it carries the PTY line)
static void runner_log(avr_t *avr, const int level, const char *format, va_list ap)
{
    (void)avr;
    if (level <= LOG_WARNING)
        vfprintf(stderr, format, ap);
}

// A pty in raw mode; returns the master (non-blocking) and keeps the slave open in *slave_fd
static int runner_open_pty(char *path, size_t size, int *slave_fd)
{
    struct termios t;
    const char *name;
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0
        || (name = ptsname(master)) == NULL || strlen(name) >= size)
        return -1;
    strcpy(path, name);
    *slave_fd = open(path, O_RDWR | O_NOCTTY);
    if (*slave_fd < 0 || tcgetattr(*slave_fd, &t) != 0)
        return -1;
    cfmakeraw(&t);
    t.c_cflag |= CLOCAL | CREAD;
    cfsetispeed(&t, B115200);
    cfsetospeed(&t, B115200);
    if (tcsetattr(*slave_fd, TCSANOW, &t) != 0
        || fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK) != 0)
        return -1;
    return master;
}

// Reset the core as an external reset would: registers, I/O and timers to their reset values,
// PC to the reset vector (SRAM keeps its contents, as on the chip). Bytes on their way through
// the UART are lost. --realtime: emulated time starts again from now (simavr zeroes the cycles).
static void runner_reset(struct runner *r, unsigned long count)
{
    avr_reset(r->avr);
    avr_regbit_set(r->avr, r->avr->reset_flags.extrf);
    r->in_pos = r->in_len = 0;
    r->out_len = 0;
    r->xoff = 0;
    r->wake = 0;
    if (r->realtime) {
        r->cycle0 = r->avr->cycle;
        r->host0_ns = runner_host_ns();
    }
    printf("RESET %lu\n", count);
    fflush(stdout);
}

// Connect UART0: output and flow control to us, console printing off
static int runner_attach_uart(struct runner *r)
{
    uint32_t flags = 0;
    avr_irq_t *irq;
    avr_ioctl(r->avr, AVR_IOCTL_UART_GET_FLAGS('0'), &flags);
    flags &= ~(uint32_t)(AVR_UART_FLAG_STDIO | AVR_UART_FLAG_POLL_SLEEP);
    avr_ioctl(r->avr, AVR_IOCTL_UART_SET_FLAGS('0'), &flags);
    r->uart_in = avr_io_getirq(r->avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_INPUT);
    irq = avr_io_getirq(r->avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUTPUT);
    if (r->uart_in == NULL || irq == NULL)
        return -1;
    avr_irq_register_notify(irq, runner_uart_out, r);
    avr_irq_register_notify(avr_io_getirq(r->avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XON),
                            runner_uart_xon, r);
    avr_irq_register_notify(avr_io_getirq(r->avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XOFF),
                            runner_uart_xoff, r);
    return 0;
}

int main(int argc, char **argv)
{
    const char *mcu = "atmega328p", *elf = NULL;
    unsigned long freq = 16000000ul;
    elf_firmware_t fw;
    char path[256];
    struct sigaction sa;
    int i, slave = -1, state = cpu_Running;
    unsigned long polls = 0, resets = 0;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--mcu") == 0 && i + 1 < argc) {
            mcu = argv[++i];
        } else if (strcmp(argv[i], "--freq") == 0 && i + 1 < argc) {
            freq = strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--realtime") == 0) {
            runner.realtime = 1;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage, stdout);
            return 0;
        } else if (argv[i][0] != '-' && elf == NULL) {
            elf = argv[i];
        } else {
            fprintf(stderr, "simavr-runner: bad argument '%s'\n%s", argv[i], usage);
            return 2;
        }
    }
    if (elf == NULL || freq == 0) {
        fputs(usage, stderr);
        return 2;
    }
    avr_global_logger_set(runner_log);
    memset(&fw, 0, sizeof(fw));
    if (elf_read_firmware(elf, &fw) != 0) {
        fprintf(stderr, "simavr-runner: cannot read %s\n", elf);
        return 1;
    }
    runner.avr = avr_make_mcu_by_name(mcu);
    if (runner.avr == NULL) {
        fprintf(stderr, "simavr-runner: unknown MCU '%s'\n", mcu);
        return 2;
    }
    avr_init(runner.avr);
    runner.avr->log = LOG_WARNING;
    fw.frequency = (uint32_t)freq;
    snprintf(fw.mmcu, sizeof(fw.mmcu), "%s", mcu);
    avr_load_firmware(runner.avr, &fw);
    runner.avr->frequency = (uint32_t)freq;
    runner.avr->sleep = runner.realtime ? runner_sleep_realtime : runner_sleep;
    if (runner_fix_tifr(runner.avr) == 0)  /* simavr 1.6 loses a timer flag written 0: both modes */
        fprintf(stderr, "simavr-runner: warning: no timer flag register found to fix\n");
    runner.freq = freq;
    runner.quiet = (avr_cycle_count_t)freq / 1000000u * RUNNER_QUIET_US;
    if (runner_attach_uart(&runner) != 0) {
        fprintf(stderr, "simavr-runner: %s has no UART0\n", mcu);
        return 1;
    }
    runner.master = runner_open_pty(path, sizeof(path), &slave);
    if (runner.master < 0) {
        fprintf(stderr, "simavr-runner: cannot open a pty: %s\n", strerror(errno));
        return 1;
    }
    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = runner_on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    printf("PTY %s\n", path);
    fflush(stdout);
    if (runner.realtime) {
        prctl(PR_SET_TIMERSLACK, 1ul);   /* wake-ups to the microsecond, not 50 us late */
        runner.cycle0 = runner.avr->cycle;
        runner.host0_ns = runner_host_ns();
    }
    while (!runner_stop) {
        if (runner_reset_asked) {
            runner_reset_asked = 0;
            runner_reset(&runner, ++resets);
        }
        state = avr_run(runner.avr);
        if (state == cpu_Done || state == cpu_Crashed)
            break;
        /* input seen while the AVR slept, or now and then while it runs: never blocking
           (--realtime: waiting here while emulated time is ahead of the host's) */
        if (runner.wake || runner.avr->cycle / RUNNER_POLL_CYCLES != polls) {
            polls = (unsigned long)(runner.avr->cycle / RUNNER_POLL_CYCLES);
            if (runner.realtime && !runner.wake)
                runner_pace(&runner);
            runner.wake = 0;
            runner_flush(&runner);
            runner_pump(&runner, 0);
        }
    }
    if (runner.realtime)
        fprintf(stderr, "simavr-runner: realtime: %.3f s emulated in %.3f s host; more than %.1f ms "
                "behind host time at %lu of %lu checks, at most %.3f ms; %lu sleeps ended early by input\n",
                (double)runner_emu_ns(&runner, runner.avr->cycle) / 1e9,
                (double)(runner_host_ns() - runner.host0_ns) / 1e9, RUNNER_LATE_NS / 1e6,
                runner.behind, runner.checks, (double)runner.max_behind_ns / 1e6, runner.early_wakes);
    runner_flush(&runner);
    close(slave);
    close(runner.master);
    if (state == cpu_Done || state == cpu_Crashed) {
        fprintf(stderr, "simavr-runner: firmware stopped (%s) at cycle %llu\n",
                state == cpu_Done ? "sleeping with interrupts off" : "crashed",
                (unsigned long long)runner.avr->cycle);
        return 1;
    }
    return 0;
}
