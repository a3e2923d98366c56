//! A long session: 200 consecutive edit → commit cycles through the real binary and engine.
//! Superseded images are pruned, the image's layers stay bounded, and a builder whose diff
//! has grown with files earlier edits left behind is rebased onto the committed image (so
//! commits stay as fast as the first). Commit times are printed (machines are noisy; the
//! benchmark reports them), sizes and counts are asserted.

mod support;

use std::io::Read;

use serde_json::Value;
use support::{docker_ok, TempProject};

const MB: usize = 1024 * 1024;
/// Each edit rewrites a file this big (and the build its object).
const FILE: usize = MB / 2;

fn random_bytes(len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    std::fs::File::open("/dev/urandom").expect("urandom").read_exact(&mut bytes).expect("random");
    bytes
}

fn image_size(p: &TempProject) -> i64 {
    docker_ok(&["image", "inspect", "--format", "{{.Size}}", &p.image]).parse().expect("size")
}

fn layers(p: &TempProject) -> usize {
    docker_ok(&["image", "inspect", "--format", "{{len .RootFS.Layers}}", &p.image]).parse().expect("layers")
}

fn our_images(p: &TempProject) -> usize {
    let filter = format!("label=dev.docker-rebuilder.project={}", p.dir.display());
    docker_ok(&["images", "-q", "--filter", &filter]).lines().count()
}

fn cycle(p: &TempProject, file: &str, stamp: usize) -> Value {
    std::fs::write(p.path(file), random_bytes(FILE)).expect("write");
    p.write("src/stamp", &format!("{stamp}\n"));
    let v = p.build_json(&[], 0);
    assert_eq!(v["outcome"], "succeeded", "cycle {stamp}: {v}");
    v
}

#[test]
fn two_hundred_edit_commit_cycles_keep_images_pruned_layers_bounded_and_the_diff_small() {
    let p = TempProject::fixture("objects-app");
    for i in 0..5 {
        std::fs::write(p.path(&format!("src/work-{i}.bin")), random_bytes(FILE)).expect("write");
    }
    p.build_json(&[], 0);
    let mut commit_ms = Vec::new();
    let mut sizes = Vec::new();
    let first_layers = layers(&p);

    // 150 cycles over a working set of five files: the diff does not grow, nothing is rebased.
    for n in 1..=150 {
        let v = cycle(&p, &format!("src/work-{}.bin", n % 5), n);
        commit_ms.push(v["phases_ms"]["commit"].as_u64().unwrap_or(0));
        assert!(!v["notes"].to_string().contains("fresh builder"), "no rebase for a steady working set: {v}");
        if n % 10 == 0 {
            sizes.push(image_size(&p));
            assert!(our_images(&p) <= 3, "superseded images are pruned (cycle {n}): {}", our_images(&p));
        }
    }
    assert_eq!(p.run_image(), "150");
    assert_eq!(layers(&p), first_layers + 1, "one layer over the built image, whatever the number of commits");
    let (early, late) = (sizes[1], *sizes.last().expect("sizes"));
    assert!((late - early).abs() < MB as i64, "disk used by the image stays flat: {early} → {late} bytes");

    // 50 cycles that each leave a new file (and its object) behind: the builder's diff grows
    // until it is rebased onto the committed image.
    let builder_before = docker_ok(&["inspect", "--format", "{{.Id}}", &p.builder()]);
    let mut rebased_at = Vec::new();
    for n in 151..=200 {
        let v = cycle(&p, &format!("src/new-{n}.bin"), n);
        commit_ms.push(v["phases_ms"]["commit"].as_u64().unwrap_or(0));
        if v["notes"].to_string().contains("fresh builder") {
            rebased_at.push(n);
        }
    }
    assert_eq!(p.run_image(), "200");
    assert!(!rebased_at.is_empty(), "a grown diff rebases the builder");
    assert_ne!(docker_ok(&["inspect", "--format", "{{.Id}}", &p.builder()]), builder_before);
    assert!(layers(&p) <= first_layers + 1 + rebased_at.len(), "one layer per rebase at most: {}", layers(&p));
    assert!(our_images(&p) <= 3 + rebased_at.len(), "superseded images are pruned: {}", our_images(&p));
    // The rebased builder still has the build's state: the next edit rebuilds its object only.
    let stamp = |object: &str| docker_ok(&["run", "--rm", &p.image, "stat", "-c", "%Y.%y", object]);
    let (untouched, edited) = (stamp("/app/out/new-151.bin.o"), stamp("/app/out/work-0.bin.o"));
    let v = cycle(&p, "src/work-0.bin", 201);
    assert_eq!(stamp("/app/out/new-151.bin.o"), untouched, "an object of an unchanged source is not rebuilt: {v}");
    assert_ne!(stamp("/app/out/work-0.bin.o"), edited, "the edited source's object is: {v}");

    let at = |n: usize| commit_ms[n - 1];
    eprintln!(
        "commit ms at cycle 1: {}, 50: {}, 150: {}, 200: {}; rebased at {rebased_at:?}; image sizes {sizes:?}",
        at(1),
        at(50),
        at(150),
        at(200)
    );
}
