//! passkeyd-loadgen (being written).

fn main() {}
