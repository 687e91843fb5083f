DROP INDEX payments_account_final_idx;
DROP TABLE settlement_mismatches;
DROP TABLE settlement_imports;
