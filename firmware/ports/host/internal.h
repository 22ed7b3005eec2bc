/* Host (POSIX) port: what main.c and port_host.c share; included first by both. */
#ifndef HOST_INTERNAL_H
#define HOST_INTERNAL_H

#define _XOPEN_SOURCE 600   /* posix_openpt, grantpt, ptsname, clock_gettime, poll, symlink */

#include <stddef.h>

// port_host.c

/* Send replies (port_uart_write) to this file descriptor. */
void host_uart_set_fd(int fd);

/* Open a pty in raw mode; returns the master fd (non-blocking) or -1 with errno set.
   The slave stays open in *slave_fd so the master never reads EIO between clients. */
int host_open_pty(char *slave_path, size_t path_size, int *slave_fd);

#endif /* HOST_INTERNAL_H */
