DROP TABLE settlement_mismatches;
DROP TABLE settlement_imports;
