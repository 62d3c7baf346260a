/* The 8250/16550A UART on COM1 (devices/legacy/serial.c): the guest's console on the launcher's
 * stdio.
 *
 * Output (THR writes, on the vCPU thread) goes to fd 1 one byte at a time. A console must not
 * stall the VM forever, so when stdout is not a regular file (a pipe, a terminal, a socket)
 * each byte waits for stdout to be writable for at most SERIAL_STALL_MS; if that bound passes,
 * the byte is dropped and so are the following ones, without waiting, until stdout takes a
 * byte again (then the bound applies anew). A reader that is slow but reads gets everything
 * (the guest is slowed down to its pace); one that stops reading costs the guest one
 * SERIAL_STALL_MS and then nothing. Dropped bytes are counted in the stats
 * (`serial0.tx_dropped`); `tx_bytes` counts the bytes written. The first stall is reported
 * once on stderr, if stderr has room then (it may be the same pipe). A write error (a pipe
 * whose reader is gone: EPIPE, SIGPIPE is ignored; a full disk) drops that byte.
 *
 * Input: stdin is read on the event thread into a 64-byte FIFO, paused while the FIFO is full;
 * EOF or an error ends input. A closed stdin, stdout or stderr is /dev/null by then (main's
 * stdio_reserve). */
#ifndef MICROVM_SERIAL_H
#define MICROVM_SERIAL_H

#define SERIAL_STALL_MS 1000 /* how long a console byte may wait for stdout */

#endif
