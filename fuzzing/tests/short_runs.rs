//! A short run of every fuzz target: each seed of its corpus, then seeded
//! mutations of the seeds. A crash the long runs found and weir fixed is
//! kept as a seed, so it fails here if it comes back.

use std::path::Path;
use weir_fuzzing::TARGETS;
use weir_fuzzing::mutate::{Rng, mutate};

/// Mutated inputs per target in one `cargo test`.
const MUTATIONS: usize = 4000;

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    seeds.sort();
    assert!(!seeds.is_empty(), "target {target} has seeds");
    seeds
}

#[test]
fn every_target_survives_its_corpus_and_mutations_of_it() {
    for (name, target) in TARGETS {
        let seeds = seeds(name);
        for seed in &seeds {
            run(name, target, seed);
        }
        let mut rng = Rng::new(0x5eed ^ name.len() as u64);
        for i in 0..MUTATIONS {
            let input = &seeds[i % seeds.len()];
            let other = &seeds[rng.next_u64() as usize % seeds.len()];
            let mutated = mutate(&mut rng, input, other);
            run(name, target, &mutated);
        }
    }
}

/// Runs one input; a panic names the target and the input, so it can be
/// kept as a seed once fixed.
fn run(name: &str, target: fn(&[u8]), input: &[u8]) {
    if std::panic::catch_unwind(|| target(input)).is_err() {
        panic!(
            "fuzz target {name} panicked on {:?}",
            String::from_utf8_lossy(input)
        );
    }
}
