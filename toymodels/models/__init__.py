"""Model pieces more than one toy uses: flax modules as the engine sees them (`module`), the
one-layer transformer of grokking and universality (`transformer`), and the pair tasks, a
binary operation over every pair of a finite set (`pairs`)."""
