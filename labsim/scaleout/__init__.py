"""Running the scenario suite wider: N labs at once on one machine (`run -j N`), one slice
of the suite per CI runner (`run --shard K/N`), and one report from many (`merge`)."""
