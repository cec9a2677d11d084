use brainsmith_core::prelude::*;

fn main() {
    #[transform(stage = cleanup)]
    let x = 1;
}
