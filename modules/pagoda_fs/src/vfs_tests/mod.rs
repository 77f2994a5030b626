mod host;
mod invariants;
mod unit;
