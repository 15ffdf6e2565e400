// Small file helpers that throw mxc::Error naming the path.
#pragma once

#include <string>
#include <string_view>

#include "mxc/util/fd.hpp"

namespace mxc {

std::string read_file(const std::string &path);
// Reads a file relative to dirfd (AT_FDCWD for plain paths).
std::string read_file_at(int dirfd, const std::string &path);
void write_file(const std::string &path, std::string_view data, int flags = 0, int mode = 0644);
void write_file_at(int dirfd, const std::string &path, std::string_view data);
// Atomic replace: write to a temp file in the same directory, rename.  With
// durable, fsync the file before the rename and the directory after it, so the
// new contents survive a crash once this returns (runtime state lives on tmpfs
// and dies at reboot anyway, so it skips both: ~10 ms per container start on ext4).
void write_file_atomic(const std::string &path, std::string_view data, int mode = 0644, bool durable = false);
// p made absolute against the current directory (no symlink resolution).
std::string absolute_or(const std::string &p);
bool path_exists(const std::string &path);
// mkdir -p; succeeds when the directory exists.
void mkdir_p(const std::string &path, int mode = 0755);
// rm -rf without following symlinks; missing path is fine.
void remove_tree(const std::string &path);
// Write all bytes or throw.
void write_all(int fd, std::string_view data);

} // namespace mxc
