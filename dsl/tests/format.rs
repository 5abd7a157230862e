//! The canonical layout, rule by rule.

use pipe_dsl::format::format;

fn formats_to(input: &str, expected: &str) {
    let formatted = format(input).unwrap();
    assert_eq!(
        formatted, expected,
        "\n--- got ---\n{formatted}--- want ---\n{expected}"
    );
    assert_eq!(
        format(&formatted).unwrap(),
        formatted,
        "formatting is not idempotent"
    );
}

#[test]
fn spacing_indentation_and_alignment_are_fixed() {
    formats_to(
        "source   metrics   from generator{\n\thosts=1000\n      interval   =15s\n  pace =max}\n",
        "source metrics from generator {\n  hosts    = 1000\n  interval = 15s\n  pace     = max\n}\n",
    );
}

#[test]
fn one_line_blocks_and_comma_separated_lines_are_kept() {
    formats_to(
        "sink out to file {from=m,path=\"x\"}\nrollup r from m {\n  window=tumble( 1m ),by=[a,b]\n  aggs=[count]\n}\n",
        "sink out to file { from = m, path = \"x\" }\nrollup r from m {\n  window = tumble(1m), by = [a, b]\n  aggs = [count]\n}\n",
    );
}

#[test]
fn a_blank_line_ends_an_alignment_run() {
    formats_to(
        "source m from generator {\n  hosts = 1\n  interval = 15s\n\n  seed = 3\n}\n",
        "source m from generator {\n  hosts    = 1\n  interval = 15s\n\n  seed = 3\n}\n",
    );
}

#[test]
fn alert_clauses_take_statement_form_and_other_properties_take_equals() {
    formats_to(
        "alert A {\n  when avg(x{a = \"b\",c=~\"d.*\"})over 5m by h,g>90\n  for = 2m\n  labels = {severity=\"page\"}\n  from metrics\n}\n",
        "alert A {\n  when avg(x{a=\"b\", c=~\"d.*\"}) over 5m by h, g > 90\n  for 2m\n  labels { severity = \"page\" }\n  from = metrics\n}\n",
    );
}

#[test]
fn parentheses_written_are_kept() {
    formats_to(
        "alert A {\n  when (sum(a) over 1m+sum(b) over 1m)/2 > 1 and (max(c) over 1m < 3 or min(d) over 1m > 0)\n}\n",
        "alert A {\n  when (sum(a) over 1m + sum(b) over 1m) / 2 > 1 and (max(c) over 1m < 3 or min(d) over 1m > 0)\n}\n",
    );
}

#[test]
fn comments_are_kept_in_place() {
    formats_to(
        "# file header\n\n\n# about the source\nsource m from generator { # header comment\n  hosts = 1   # trailing, column kept\n  # before metrics\n  metrics = 2\n  # dangling at the end\n}   # after the block\n# end of file\n",
        "# file header\n\n# about the source\nsource m from generator { # header comment\n  hosts   = 1 # trailing, column kept\n  # before metrics\n  metrics = 2\n  # dangling at the end\n}   # after the block\n# end of file\n",
    );
}

#[test]
fn a_trailing_comment_moves_right_when_the_code_grows() {
    formats_to(
        "source m from generator {\n  a=1 # x\n  longer_name = 2\n}\n",
        "source m from generator {\n  a           = 1 # x\n  longer_name = 2\n}\n",
    );
}

#[test]
fn comments_inside_a_value_move_before_its_property() {
    formats_to(
        "rollup r from m {\n  aggs = [count, # the count\n          sum]\n}\n",
        "rollup r from m {\n  # the count\n  aggs = [count, sum]\n}\n",
    );
}

#[test]
fn multi_line_maps_keep_their_lines() {
    formats_to(
        "source k from kafka {\n  kafka = {\n    \"security.protocol\"=\"SSL\"\n    \"acks\" = \"all\",\n  }\n}\n",
        "source k from kafka {\n  kafka {\n    \"security.protocol\" = \"SSL\"\n    \"acks\"              = \"all\",\n  }\n}\n",
    );
}

#[test]
fn blank_lines_collapse_to_one_and_the_file_ends_with_one_newline() {
    formats_to(
        "\n\nsource a from generator {}\n\n\n\nsource b from generator {}   \n\n\n",
        "source a from generator {}\n\nsource b from generator {}\n",
    );
}

#[test]
fn a_last_entry_followed_by_a_comma_and_the_brace_is_kept() {
    formats_to(
        "source m from generator {\n  hosts = 1,\n  seed = 2,}\n",
        "source m from generator {\n  hosts = 1,\n  seed  = 2,\n}\n",
    );
}

#[test]
fn a_one_line_trailing_comma_is_dropped() {
    formats_to(
        "sink s to console { from = m, }\n",
        "sink s to console { from = m }\n",
    );
}

#[test]
fn syntax_errors_are_reported_not_formatted() {
    let errors = format("source m from generator {\n  hosts = = 1\n}\n").unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].code.id(), "E0001");
}
