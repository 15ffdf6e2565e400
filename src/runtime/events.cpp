#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "mxc/cgroup/cgroup.hpp"
#include "mxc/runtime/runtime.hpp"
#include "mxc/util/error.hpp"

namespace mxc::runtime {

nlohmann::json stats(const Global &g, const std::string &id) {
    return with_context(fmt::format("events \"{}\"", id), [&] {
        Store store(g.root);
        State st = store.load(id);
        if (status_of(store, st) == Status::stopped)
            throw_error("container is stopped");
        nlohmann::json data = nlohmann::json::object();
        if (!st.cgroup_path.empty())
            data = cgroup::Manager(cgroup::detect_once(), st.cgroup_path).stats();
        return nlohmann::json{{"type", "stats"}, {"id", id}, {"data", data}};
    });
}

void events(const Global &g, const std::string &id, int interval_sec, bool once_stats) {
    if (once_stats) {
        std::printf("%s\n", stats(g, id).dump().c_str());
        return;
    }
    if (interval_sec <= 0)
        throw_error("events: --interval must be positive");
    Store store(g.root);
    for (;;) {
        State st = store.load(id);
        if (status_of(store, st) == Status::stopped)
            return;
        std::printf("%s\n", stats(g, id).dump().c_str());
        std::fflush(stdout);
        std::this_thread::sleep_for(std::chrono::seconds(interval_sec));
    }
}

} // namespace mxc::runtime
