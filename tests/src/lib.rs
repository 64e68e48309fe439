//! Integration-test harness for cairn.
