/*
 * openloop: a constant-arrival HTTP/1.1 load generator for latency percentiles.
 *
 *   openloop HOST PORT RATE SECONDS CONNECTIONS 'HEADER: value' PATH [PATH ...]
 *
 * Requests are due at evenly spaced instants (RATE per second, a small random jitter so that
 * nothing beats in step with the server). A due request goes out on an idle keep-alive
 * connection; if none is idle it waits, and its latency is still counted from the instant it was
 * due. So a slow response delays neither the schedule nor the clock of the requests queued
 * behind it (no coordinated omission). Prints one JSON line: sent, completed, non-2xx, errors,
 * late (requests that found no idle connection), and latency percentiles in microseconds.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNECTIONS 1024
#define BUFFER 65536

typedef struct {
    int fd;
    int busy;
    double due;          /* when the request in flight was due */
    size_t have;         /* bytes of the current response read so far */
    char buffer[BUFFER];
} connection;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int open_connection(const char *host, int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(port)};
    int one = 1;
    inet_pton(AF_INET, host, &address.sin_addr);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&address, sizeof address) < 0 && errno != EINPROGRESS) {
        perror("connect");
        exit(2);
    }
    return fd;
}

/* A complete response in the buffer? Returns its length (0: not yet) and sets *status. */
static size_t complete(const char *data, size_t have, int *status) {
    const char *end = memmem(data, have, "\r\n\r\n", 4);
    if (end == NULL) return 0;
    size_t head = (size_t)(end - data) + 4;
    *status = atoi(data + 9);
    size_t length = 0;
    const char *cursor = data;
    while (cursor < end) {
        const char *line_end = memmem(cursor, (size_t)(end - cursor) + 2, "\r\n", 2);
        if (strncasecmp(cursor, "content-length:", 15) == 0) length = strtoul(cursor + 15, NULL, 10);
        cursor = line_end + 2;
    }
    return have >= head + length ? head + length : 0;
}

int main(int argc, char **argv) {
    if (argc < 8) {
        fprintf(stderr, "usage: openloop HOST PORT RATE SECONDS CONNECTIONS HEADER PATH...\n");
        return 2;
    }
    const char *host = argv[1];
    int port = atoi(argv[2]);
    double rate = atof(argv[3]), seconds = atof(argv[4]);
    int count = atoi(argv[5]);
    const char *header = argv[6];
    int paths = argc - 7;
    if (count < 1 || count > MAX_CONNECTIONS || rate <= 0) return 2;

    char **requests = calloc(paths, sizeof *requests);
    size_t *lengths = calloc(paths, sizeof *lengths);
    for (int i = 0; i < paths; i++) {
        requests[i] = malloc(4096);
        lengths[i] = snprintf(requests[i], 4096, "GET %s HTTP/1.1\r\nHost: %s:%d\r\n%s%s\r\n",
                              argv[7 + i], host, port, header[0] ? header : "", header[0] ? "\r\n" : "");
    }
    size_t planned = (size_t)(rate * seconds) + 1;
    double *latencies = calloc(planned, sizeof *latencies);
    double *waiting = calloc(planned, sizeof *waiting); /* due times of requests with no idle connection */
    size_t waiting_head = 0, waiting_tail = 0;

    connection *connections = calloc(count, sizeof *connections);
    int poll = epoll_create1(0);
    for (int i = 0; i < count; i++) {
        connections[i].fd = open_connection(host, port);
        struct epoll_event event = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        epoll_ctl(poll, EPOLL_CTL_ADD, connections[i].fd, &event);
    }
    usleep(200000); /* let the connections finish their handshakes */

    srand(12345);
    double start = now(), interval = 1.0 / rate, next_due = start;
    size_t sent = 0, completed = 0, non_2xx = 0, errors = 0, late = 0, next_path = 0;
    int idle_cursor = 0;
    struct epoll_event events[256];

    while (completed + errors < sent || waiting_head < waiting_tail || (next_due < start + seconds && sent < planned)) {
        double t = now();
        /* Requests that have come due join the queue, on schedule whatever the server does. */
        while (next_due <= t && next_due < start + seconds && sent + (waiting_tail - waiting_head) < planned) {
            waiting[waiting_tail++] = next_due;
            double jitter = ((double)rand() / RAND_MAX - 0.5) * 0.2 * interval;
            next_due += interval + jitter;
        }
        /* Send queued requests on idle connections. */
        while (waiting_head < waiting_tail) {
            int found = -1;
            for (int k = 0; k < count; k++) {
                int i = (idle_cursor + k) % count;
                if (!connections[i].busy) { found = i; break; }
            }
            if (found < 0) break;
            idle_cursor = (found + 1) % count;
            connection *c = &connections[found];
            double due = waiting[waiting_head++];
            if (t - due > interval) late++;
            const char *request = requests[next_path];
            size_t length = lengths[next_path];
            next_path = (next_path + 1) % paths;
            if (write(c->fd, request, length) != (ssize_t)length) { errors++; sent++; continue; }
            c->busy = 1;
            c->due = due;
            c->have = 0;
            sent++;
        }
        double wait_ms = (next_due - now()) * 1000;
        int timeout = wait_ms < 0 ? 0 : (int)wait_ms;
        if (timeout > 10) timeout = 10;
        int ready = epoll_wait(poll, events, 256, timeout);
        for (int e = 0; e < ready; e++) {
            connection *c = &connections[events[e].data.u32];
            ssize_t got = read(c->fd, c->buffer + c->have, BUFFER - c->have);
            if (got <= 0) {
                if (got < 0 && errno == EAGAIN) continue;
                if (c->busy) { errors++; c->busy = 0; }
                continue;
            }
            c->have += (size_t)got;
            int status = 0;
            size_t used = complete(c->buffer, c->have, &status);
            if (used == 0) continue;
            if (status < 200 || status > 299) non_2xx++;
            latencies[completed++] = (now() - c->due) * 1e6;
            c->busy = 0;
            c->have = 0;
        }
        if (now() > start + seconds + 30) break; /* give up on answers that never come */
    }
    double elapsed = now() - start;
    qsort(latencies, completed, sizeof *latencies, compare);
#define PCT(p) (completed ? latencies[(size_t)((p) / 100.0 * (completed - 1))] : 0)
    printf("{\"sent\": %zu, \"completed\": %zu, \"non_2xx\": %zu, \"errors\": %zu, \"late\": %zu, "
           "\"seconds\": %.3f, \"latency_us\": {\"p50\": %.0f, \"p90\": %.0f, \"p99\": %.0f, \"p999\": %.0f, "
           "\"max\": %.0f}}\n",
           sent, completed, non_2xx, errors, late, elapsed, PCT(50), PCT(90), PCT(99), PCT(99.9),
           completed ? latencies[completed - 1] : 0);
    return 0;
}
