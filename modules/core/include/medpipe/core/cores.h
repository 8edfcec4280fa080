#pragma once
// How many cores this process may use: its CPU affinity (what Slurm, taskset or a container grants),
// not the machine's count, so thread pools fit the share a scheduler gave.
namespace medpipe {

unsigned UsableCores();

}  // namespace medpipe
