#include "mxc/sandbox/console.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <cstring>

#include "mxc/sandbox/sync.hpp"
#include "mxc/util/error.hpp"
#include "mxc/util/file.hpp"

namespace mxc::sandbox {

UniqueFd setup_console(const std::optional<oci::ConsoleSize> &size) {
    UniqueFd master(::open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!master)
        throw_errno("open /dev/ptmx for the console");
    if (::unlockpt(master.get()) < 0)
        throw_errno("unlockpt");
    char name[128];
    if (::ptsname_r(master.get(), name, sizeof name) != 0)
        throw_errno("ptsname");
    UniqueFd slave(::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!slave)
        throw_errno("open console {}", name);
    if (size) {
        struct winsize ws = {};
        ws.ws_row = static_cast<unsigned short>(size->height);
        ws.ws_col = static_cast<unsigned short>(size->width);
        if (::ioctl(slave.get(), TIOCSWINSZ, &ws) < 0)
            throw_errno("set console size");
    }
    if (::setsid() < 0 && errno != EPERM)
        throw_errno("setsid");
    if (::ioctl(slave.get(), TIOCSCTTY, 0) < 0)
        throw_errno("make {} the controlling terminal", name);
    for (int fd = 0; fd <= 2; ++fd)
        if (::dup2(slave.get(), fd) < 0)
            throw_errno("dup2 console");
    return master;
}

void send_to_console_socket(const std::string &socket_path, int master) {
    UniqueFd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!s)
        throw_errno("socket");
    struct sockaddr_un addr = {};
    addr.sun_family = AF_UNIX;
    if (socket_path.size() >= sizeof addr.sun_path)
        throw_error("console socket path too long: {}", socket_path);
    std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
    if (::connect(s.get(), reinterpret_cast<struct sockaddr *>(&addr), sizeof addr) < 0)
        throw_errno("connect to console socket {}", socket_path);
    with_context("console socket", [&] { send_fd(s.get(), master, "/dev/ptmx"); });
}

namespace {
void copy_winsize(int from, int to) {
    struct winsize ws;
    if (::ioctl(from, TIOCGWINSZ, &ws) == 0)
        ::ioctl(to, TIOCSWINSZ, &ws);
}
} // namespace

void relay_console(int master, int stop_fd) {
    struct termios saved;
    bool raw = ::isatty(STDIN_FILENO) && ::tcgetattr(STDIN_FILENO, &saved) == 0;
    if (raw) {
        struct termios t = saved;
        ::cfmakeraw(&t);
        ::tcsetattr(STDIN_FILENO, TCSANOW, &t);
        copy_winsize(STDIN_FILENO, master);
    }
    char buf[8192];
    bool in_open = true;
    for (;;) {
        struct pollfd p[3] = {{master, POLLIN, 0}, {in_open ? STDIN_FILENO : -1, POLLIN, 0}, {stop_fd, POLLIN, 0}};
        if (::poll(p, 3, -1) < 0) {
            if (errno == EINTR) {
                if (raw)
                    copy_winsize(STDIN_FILENO, master);
                continue;
            }
            break;
        }
        if (p[0].revents & POLLIN) {
            ssize_t n = ::read(master, buf, sizeof buf);
            if (n <= 0)
                break;
            try {
                write_all(STDOUT_FILENO, std::string_view(buf, static_cast<size_t>(n)));
            } catch (const Error &) {
                break;
            }
        } else if (p[0].revents & (POLLHUP | POLLERR)) {
            break;
        }
        if (p[1].revents & (POLLIN | POLLHUP)) {
            ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
            if (n <= 0) {
                in_open = false;
                // EOF on our stdin: pass ^D to the terminal.
                char eof = 4;
                (void)!::write(master, &eof, 1);
            } else {
                try {
                    write_all(master, std::string_view(buf, static_cast<size_t>(n)));
                } catch (const Error &) {
                }
            }
        }
        if (p[2].revents) {
            // The process is gone: pass on what is still buffered.
            int fl = ::fcntl(master, F_GETFL);
            ::fcntl(master, F_SETFL, fl | O_NONBLOCK);
            ssize_t n;
            while ((n = ::read(master, buf, sizeof buf)) > 0)
                (void)!::write(STDOUT_FILENO, buf, static_cast<size_t>(n));
            break;
        }
    }
    if (raw)
        ::tcsetattr(STDIN_FILENO, TCSANOW, &saved);
}

} // namespace mxc::sandbox
