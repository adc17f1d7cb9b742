#pragma once
// Private to crypto/: creating the files the CLI writes (keys, certificates, network keys).
// Throws CryptoError with one sentence naming the file. Thread-safe: no shared state.
#include <sys/types.h>

#include <filesystem>
#include <string>

namespace vpn::crypto::internal {

// Throws if anything (even a dangling symlink) exists at p.
void refuseExisting(const std::filesystem::path& p);
// Creates p with `mode` (O_EXCL: never follows a symlink or clobbers a file that appeared after
// refuseExisting), writes `data` and fsyncs; removes the file again on failure.
void writeNewFile(const std::filesystem::path& p, const std::string& data, mode_t mode);

}  // namespace vpn::crypto::internal
