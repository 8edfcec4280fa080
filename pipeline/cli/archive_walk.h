#pragma once
// What every archive-reading command shares on its command line: indexing options, decode limits and parsing.
#include <filesystem>
#include <functional>
#include <string>

#include <boost/program_options.hpp>

#include "isolation/series_decoder.h"
#include "medpipe/core/files.h"
#include "medpipe/dicom/series_index.h"

namespace medpipe::cli {

// Options every archive-reading command takes.
void AddArchiveOptions(boost::program_options::options_description& options);
dicom::ArchiveIndex IndexArchive(const boost::program_options::variables_map& vm);

// --decode-timeout and --max-decode-gib (default: 4 x --max-image-gib + 2 GiB of address space).
DecodeLimits DecodeLimitsOf(const boost::program_options::variables_map& vm);

// Parses ARGS against OPTIONS (with POSITIONAL names); prints help and returns false on --help or error.
bool ParseCommandLine(const std::vector<std::string>& args, const std::string& usage,
                      boost::program_options::options_description& options,
                      const boost::program_options::positional_options_description& positional,
                      boost::program_options::variables_map& vm, int& exit_code);

// Parses `medpipe NAME ARCHIVE OUTDIR [archive and decode options] [EXTRA options]` and creates
// OUTDIR/OUTPUT_SUBDIR. Returns false with EXIT_CODE set on --help or a usage error.
bool ParseArchiveToOutdir(const std::vector<std::string>& args, const std::string& name, const std::string& outdir_help,
                          const std::filesystem::path& output_subdir, boost::program_options::variables_map& vm,
                          int& exit_code, const boost::program_options::options_description* extra = nullptr);

}  // namespace medpipe::cli
