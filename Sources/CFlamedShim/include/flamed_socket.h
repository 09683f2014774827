#ifndef FLAMED_SOCKET_H
#define FLAMED_SOCKET_H

/// Reads the process id, user id and group id of the peer of the Unix socket `fd`
/// (SO_PEERCRED). Returns 0, or -1 with errno set.
///
/// Why it exists: `struct ucred` is declared only under _GNU_SOURCE, which Swift's Glibc
/// module does not define, so Swift cannot name the type SO_PEERCRED fills in.
int flamed_shim_peer_credentials(int fd, int *pid, unsigned int *uid, unsigned int *gid);

/// Accepts a connection on the listening socket `fd` as a close-on-exec, non-blocking
/// descriptor in one step (accept4). Returns the descriptor, or -1 with errno set.
///
/// Why it exists: `accept4` is declared only under _GNU_SOURCE; plain accept plus fcntl
/// would leave a window in which a concurrently spawned child inherits the descriptor.
int flamed_shim_accept_cloexec_nonblocking(int fd);

#endif
