/* Host (POSIX) port: port.h on a pty or stdio, with the monotonic clock. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "port.h"

#define HOST_WRITE_WAIT_MS 1000   /* a reader that stalls this long loses the reply */

static int host_out_fd = -1;

void host_uart_set_fd(int fd)
{
    host_out_fd = fd;
}

uint32_t port_time_us(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint32_t)((uint64_t)now.tv_sec * 1000000u + (uint64_t)now.tv_nsec / 1000u);
}

void port_uart_write(const uint8_t *data, uint16_t len)
{
    while (len > 0u) {
        ssize_t n = write(host_out_fd, data, len);
        if (n > 0) {
            data += n;
            len = (uint16_t)(len - (uint16_t)n);
        } else if (n < 0 && errno == EAGAIN) {
            struct pollfd out = {0};
            out.fd = host_out_fd;
            out.events = POLLOUT;
            if (poll(&out, 1, HOST_WRITE_WAIT_MS) == 0) {
                fprintf(stderr, "skycrane-sil: nobody reads the line, reply of %u bytes dropped\n",
                        (unsigned)len);
                return;
            }
        } else if (n < 0 && errno != EINTR) {
            fprintf(stderr, "skycrane-sil: reply dropped: %s\n", strerror(errno));
            return;
        }
    }
}

void port_fault(const char *message)
{
    fprintf(stderr, "skycrane-sil: fault: %s\n", message);
    abort();
}

// Raw 8N1 without echo or line editing, so bytes pass unchanged both ways
static int host_make_raw(int fd)
{
    struct termios t;
    if (tcgetattr(fd, &t) != 0)
        return -1;
    t.c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON | IXOFF | IXANY);
    t.c_oflag &= ~(tcflag_t)OPOST;
    t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
    t.c_cflag &= ~(tcflag_t)(CSIZE | PARENB);
    t.c_cflag |= CS8 | CREAD | CLOCAL;
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    cfsetispeed(&t, B115200);
    cfsetospeed(&t, B115200);
    return tcsetattr(fd, TCSANOW, &t);
}

int host_open_pty(char *slave_path, size_t path_size, int *slave_fd)
{
    const char *name;
    int saved;
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0)
        return -1;
    if (grantpt(master) != 0 || unlockpt(master) != 0 || (name = ptsname(master)) == NULL
        || strlen(name) >= path_size)
        goto fail;
    strcpy(slave_path, name);
    *slave_fd = open(slave_path, O_RDWR | O_NOCTTY);
    if (*slave_fd < 0)
        goto fail;
    if (host_make_raw(*slave_fd) != 0
        || fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK) != 0) {
        saved = errno;
        close(*slave_fd);
        errno = saved;
        goto fail;
    }
    return master;
fail:
    saved = errno;
    close(master);
    errno = saved;
    return -1;
}
