"""Sky-crane landing plant: physics only, no I/O and no wall clock."""
