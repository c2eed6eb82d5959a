//! Races: concurrent writers lose nothing.
