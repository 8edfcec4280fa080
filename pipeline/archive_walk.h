#pragma once
// The shared loop of convert and run: index an archive, load each usable series, report the rest.
#include <filesystem>
#include <functional>
#include <string>

#include <boost/program_options.hpp>

#include "medpipe/core/files.h"
#include "medpipe/core/study_result.h"
#include "medpipe/core/volume.h"
#include "medpipe/dicom/series_index.h"
#include "series_decoder.h"

namespace medpipe::cli {

// Options every archive-reading command takes.
void AddArchiveOptions(boost::program_options::options_description& options);
dicom::ArchiveIndex IndexArchive(const boost::program_options::variables_map& vm);

// --decode-timeout and --max-decode-gib (default: 4 x --max-image-gib + 2 GiB of address space).
DecodeLimits DecodeLimitsOf(const boost::program_options::variables_map& vm);

using SeriesLoaded = std::function<void(const dicom::Series&, DecodedSeries&)>;
// FAILURE.message is the sentence for people ("error" in result.json), the rest is for programs.
using SeriesFailed = std::function<void(const dicom::Series&, const Failure& failure)>;

// Localizers, secondary captures and non-image objects: the index refuses them by design, which is
// no failure (they are not what a model reads). Decided by the problem table (core/problem_code.h),
// as result.json's disposition is.
bool LeftOutByDesign(const dicom::Series& series);

// Decodes every series of STUDY that is not refused, with DECODER; a failure in one series is reported
// and the walk goes on. Series that are refused at index time or fail to load go to ON_FAILED.
// Returns the failure count.
size_t ForEachSeries(const dicom::Study& study, SeriesDecoder& decoder, const SeriesLoaded& on_loaded,
                     const SeriesFailed& on_failed);

// File-name prefix of a series' outputs: "<series number>_<series id>".
std::string SeriesStem(const dicom::Series& series);

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
