/* The exec floor for scripts/bench: a static C program (cc -O2 -static) that reads stdin to
 * its end and writes a fixed answer line, the least any credential helper can cost on `get`.
 * No runtime start-up beyond glibc's own; it must never do more than floor.rs does. */
#include <unistd.h>

int main(void) {
    static const char answer[] =
        "{\"ServerURL\":\"harbor.example.com\",\"Username\":\"robot$ci\",\"Secret\":\"x\"}\n";
    char buf[4096];
    while (read(0, buf, sizeof buf) > 0) {
    }
    return write(1, answer, sizeof answer - 1) == (ssize_t)(sizeof answer - 1) ? 0 : 1;
}
