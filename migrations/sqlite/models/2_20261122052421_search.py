from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        -- full-text search: FTS5 indexes over the tables' own rows, kept current by triggers
        CREATE VIRTUAL TABLE IF NOT EXISTS "chunks_fts" USING fts5("text", content='chunks', content_rowid='rowid', tokenize='porter unicode61');
        INSERT INTO "chunks_fts"(rowid, "text") SELECT rowid, "text" FROM "chunks";
        CREATE TRIGGER IF NOT EXISTS "chunks_fts_insert" AFTER INSERT ON "chunks" BEGIN
            INSERT INTO "chunks_fts"(rowid, "text") VALUES (new.rowid, new."text"); END;
        CREATE TRIGGER IF NOT EXISTS "chunks_fts_delete" AFTER DELETE ON "chunks" BEGIN
            INSERT INTO "chunks_fts"("chunks_fts", rowid, "text") VALUES ('delete', old.rowid, old."text"); END;
        CREATE TRIGGER IF NOT EXISTS "chunks_fts_update" AFTER UPDATE ON "chunks" BEGIN
            INSERT INTO "chunks_fts"("chunks_fts", rowid, "text") VALUES ('delete', old.rowid, old."text");
            INSERT INTO "chunks_fts"(rowid, "text") VALUES (new.rowid, new."text"); END;
        CREATE VIRTUAL TABLE IF NOT EXISTS "highlights_fts" USING fts5("title", "description", content='highlights', content_rowid='rowid', tokenize='porter unicode61');
        INSERT INTO "highlights_fts"(rowid, "title", "description") SELECT rowid, "title", "description" FROM "highlights";
        CREATE TRIGGER IF NOT EXISTS "highlights_fts_insert" AFTER INSERT ON "highlights" BEGIN
            INSERT INTO "highlights_fts"(rowid, "title", "description") VALUES (new.rowid, new."title", new."description"); END;
        CREATE TRIGGER IF NOT EXISTS "highlights_fts_delete" AFTER DELETE ON "highlights" BEGIN
            INSERT INTO "highlights_fts"("highlights_fts", rowid, "title", "description") VALUES ('delete', old.rowid, old."title", old."description"); END;
        CREATE TRIGGER IF NOT EXISTS "highlights_fts_update" AFTER UPDATE ON "highlights" BEGIN
            INSERT INTO "highlights_fts"("highlights_fts", rowid, "title", "description") VALUES ('delete', old.rowid, old."title", old."description");
            INSERT INTO "highlights_fts"(rowid, "title", "description") VALUES (new.rowid, new."title", new."description"); END;
        CREATE VIRTUAL TABLE IF NOT EXISTS "videos_fts" USING fts5("title", "url", content='videos', content_rowid='rowid', tokenize='porter unicode61');
        INSERT INTO "videos_fts"(rowid, "title", "url") SELECT rowid, "title", "url" FROM "videos";
        CREATE TRIGGER IF NOT EXISTS "videos_fts_insert" AFTER INSERT ON "videos" BEGIN
            INSERT INTO "videos_fts"(rowid, "title", "url") VALUES (new.rowid, new."title", new."url"); END;
        CREATE TRIGGER IF NOT EXISTS "videos_fts_delete" AFTER DELETE ON "videos" BEGIN
            INSERT INTO "videos_fts"("videos_fts", rowid, "title", "url") VALUES ('delete', old.rowid, old."title", old."url"); END;
        CREATE TRIGGER IF NOT EXISTS "videos_fts_update" AFTER UPDATE ON "videos" BEGIN
            INSERT INTO "videos_fts"("videos_fts", rowid, "title", "url") VALUES ('delete', old.rowid, old."title", old."url");
            INSERT INTO "videos_fts"(rowid, "title", "url") VALUES (new.rowid, new."title", new."url"); END;"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP TRIGGER IF EXISTS "chunks_fts_insert"; DROP TRIGGER IF EXISTS "chunks_fts_delete"; DROP TRIGGER IF EXISTS "chunks_fts_update"; DROP TABLE IF EXISTS "chunks_fts";
        DROP TRIGGER IF EXISTS "highlights_fts_insert"; DROP TRIGGER IF EXISTS "highlights_fts_delete"; DROP TRIGGER IF EXISTS "highlights_fts_update"; DROP TABLE IF EXISTS "highlights_fts";
        DROP TRIGGER IF EXISTS "videos_fts_insert"; DROP TRIGGER IF EXISTS "videos_fts_delete"; DROP TRIGGER IF EXISTS "videos_fts_update"; DROP TABLE IF EXISTS "videos_fts";"""


MODELS_STATE = (
    "eJztXety27gVfhWMZjpNZrwZR7aTVNvpjOwoibq+pLacdne9w8ISLLGmQC0vdtRt3r0AeB"
    "EJAhQpiRLFnB9xbBAHJL8DAueOP1pTe0Qs99UNcV3Tpq0O+qNF8ZSwX+RLB6iFZ7PFBd7g"
    "4XtL9HWDTqIR37ueg4cea3/AlktY04i4Q8ececEtWl3kmmNKRj+YFI3Ikzkkr9AVtebImx"
    "B086n7Q/vkDbIfxJ/3BDvEQZ79SCgyXfRIZt4rfpuRPWT3Mel4YyP61PzdJ4Znjwnr57Bx"
    "f/2NNZt0RL4Sl//5a8t3iWOYI9596BDskZGBvdZvvN/s0XgwiTVKgRh0Fe2GN5+Jttvb/v"
    "sPoid/jXtjaFv+lC56z+bexKZxd983R684Db82JpQ4/LYJdKlvWSEjoqbgVViD5/gkfofR"
    "omFEHrBvcR61/vrg0yFnDRJ34j+O/xY+WqKbYVxeDYyb3sAwWhmW8keQeBI2DdmsYNPBpB"
    "5H8I9vwbgLQERri9/g7FP3+sXRm5cCAtv1xo64KOBqfROE2MMBqeDGAmXBS2OC3UkW7bMJ"
    "dtRop6kk1NlDV4N3BFUF4Lam+KthETr2JuzPN8c5YH/pXgu83xwLvG32wQZf8mV4pS0ucd"
    "gXMCdmfAbm9+yKZ06JGuo0pQT1KCR9Ff2yCvBRwwL5xeKzDejZC474ihOyPAf6Qf+idzPo"
    "Xnzmt5u67u+WwK876PErbdE6l1pfvJHYFA+C/tkffEL8T/TL1WVP/njifoNfWvyZsO/ZBr"
    "WfDTxKzM6oNUItxXXydWay0VbgeppyO1zf5ve2J0yOQMrlsoVdz2C72ypft0y7AU6HbKzL"
    "590kTgfykWHSBzvL6L/fXF2qmSyRyTw2hx76H7JM16tq9U4IKve+aXkmdV/x2+5CVuEwpf"
    "gdbZsvLrr/knfUs/OrU5mRfIBTaXtNyJZFBcYEySalxvp+bUuERC6HPzwqZUQOVRbaD7ZD"
    "mObwE5kLgPvsOTAdEgWgoTp0Gw6zn5AuWhdrrIOfY8UlOaHYu7M3Jl4gRXdvzrrvey2B8D"
    "0ePj5jZ2SkoOZX7LYttcR9s5em7ancgikeC3D4W/BnTqKuUE4jbug1U/5ChdXSGetr0w7C"
    "FOHh0Paph55Nb8L/JlNsMlxtR1ykNp1Pbd9F7MbI5JPGsphyiT00xXPkkDFbB5mOabEJ4q"
    "i01eputFyJBV11p7qq4G8ZNTUmWElDlQWpGimo7ZOTAhoq66VVUcW19CY6w677bLP1pqw1"
    "IEO4Ebh3rZZWD7hjW0SNc4/608yumsI8ot2M7aWQEBmJASXQbt3e9K47iFPe0e77i/4lW7"
    "hHU5PKC3sRHrx+U4AFr2X9YMEBfinNAJMp2NE2kWXEqc0wxlSzhkukEh/uGW1VjIhbtrtw"
    "n15dnacE99P+QIL69uK0x1ggOMA6mYEA1L8cgDUMrGEtfzZaketpSuB6XbiuMJqIp8/okn"
    "rVZzE9ko4waSEOKT/8dE2YuB661NRKZsLntmdzQKdnSt+QZePRmhh9MUfE3j+JrBBADmHP"
    "6orFgmJrzibVelh1xSim21C4mJzyOMXO45oonYbDNPWzY82EW0DWX5/6i5GaCpZl3jvYmR"
    "uEssHW/f7Og8F6bKx5UwFjV5+I4+INTK+zxFANhssjnGAtpD5GyJwFwzUVLY9MZ9zGuSZc"
    "g3CYBu2DVVrdzyaYUsKF8IzhPbp0kGd7Hwadipnf9VCASbvmJm3X9h3uGlaArbe3pogg+E"
    "oy82WDr8T/JfCN+m/PtrrfdmzfKeWVCbs3z0lwcnhYAFzWSwuuuJYG98G2LPuZOIbwdSo2"
    "cXPMdAo10llaCXSzkNxTN9DH/CF++Eu7fXT0tn149ObdyfHbtyfvDt+xvuKBs5fe5hm2+x"
    "+5iTrFErBZN996CTbr75HrG7VZP3FLKlhjt6hW+fSxpVSq+IWDfJWKdSkYz3Tnt9vH794e"
    "Hga5Lq5IgHEwDToFAUftwz8h+4k4Fp6hFy4hI3R4ePzyAA19DzGVxCXjKaEeumdb7whzQ1"
    "g2mqm62ygUv19bi6Ej3cF2TfHKv4FWWCetMOZLBmutqJckWUnIq932Ekh57dfHb4/fHb05"
    "joW7uCVPpsvKb66HHcUm/sGysQbSmELC84GT7CGiOXC9v7o9Pe+hz9e9s/5NPwzQjndkcZ"
    "E3LWI6rnvdcwlgQhVrQw68YX8Atwi4HvmqmLwD1qpJ0Av7N8KEkSdZ9v41SAmVmWyCGOnz"
    "q8uPUXc5xUACW2Q3avRt7QosUcEirFiEH0zH9YxQZimBbYYO0FWgK5LJyoMrkwG2Cmwzsn"
    "NRGTgrdEO2UW620QIwhThRNudokBpsP+FdmnmUmWJl848SVk7T20gYQjhMg0Cv1K5xE66+"
    "yiIi8cKcV0REdKrAXVyZ1SDPb6FcKBX7UPgx1NexuUVPBVgTwJpQk70frAk1BxesCdu0Jo"
    "DmUIoJoDnskeZQpVCc4IBCLk7zRy8aL16xEulYeIBD8CxMxz57F7H+ihg9cKzVy7GW5FDR"
    "cLUkTSM2wKqzqsOpr4R4eWL7grrOYLcuupe33fMOYquXj6072r0dXHUQDyq5o7efz6+67z"
    "soSNa7ozeDQQe5nliods+eB9uZqsKZ9F/AgqLOLKnP/A+MMaUdSBm67Wneh1VBvWkr/H55"
    "5vYFVoht1UO9n1GORWJbk6JrUcEzSQPqaL46+hQFdq6piRYNEK0pqEuV0OScWsNzFYd3ru"
    "G2iqJIG4K0SixZu75G7I5qIkhQNGIH3s9ggVPYeOKVT2/eWUTgF6lSKXr/2UVT4mFuJHiF"
    "frb9gX9Pgisuwg5BLlOEyAjdzxF5Is7cpuTHUJVz0T2xbDpGns3PQzAdZD9TdZnKCu9U5L"
    "CFMH8YzlvYhUxwkGOB2j/jSGtu+x6buCVxbv18dTu4Pe11UEgv20XqYQ0JH65kBnaaqmnV"
    "RTeP8hYzhOsmdmwhRdgzPV0hUY1BJCIAhIshnHyyDM56v7lEtsU1ewebYiXO85HvYDXqOb"
    "EgSaIVA0LqKZZXFg8y8af3FJuWUXKhzhBCUYdC60kgARmjsKBS1uKq2RfTZHnm1v2DPW+O"
    "dwc9CcEnkzyvUhIjTQflMMoFmSaL/D2SVfBP0wH+q+Lv4bHCSKU/gyjqX4/Dh/j9GnP40J"
    "ABNrbVpS71DElTAVs2zpZgs+TFjyZ45oVH2RTljpIYmLRxJu0kIKtuG0jFxpfIBG08EG84"
    "WcnNrxkCTiusTxGjrH8fojr0n1xzozqgYlnTuK742LM1sVP+vqJOvDTVGs68/VnFl7ruFp"
    "gKj2tJRJM0gGdueJSASmHXrehY0XpCujQ4Kjmh1MFRimVgA6gmqpQ3E9j02peClj0Curw9"
    "Py8WeCYlGK0eNdTIjLPdRlftJUpwJk8hmOBMHjiTp8JDZqAQTiGY4CyeagNnC58SdYHpfG"
    "Dzn0UlvDWPitppwFqOlCdez5DrQ0sv6/A5SUbGwp0cF/K2HcGYRzLPoB4KizHzwj7JBAZv"
    "4tj+eCKTGosbKKV41m7IlY2+5QZNx1KQIm46KSHpQ6eT0tjy4OkrShAOx0X/se95rWqbhu"
    "HMQalqO+ryX+Ig9vYP5jiMxPkRmZ6L2Iz0CLLMJ+KiCXFINm66qpsUCZlOctElnsceyRUc"
    "PkgHUB+gX3kxHy8499ki2CUG+TozmeILAdYrfMMbDrCO5kYZj1KSpoEhkZs/UUn+PooCLd"
    "NVBXaTTq8CF+kWUvbj9XylrIyYeosRvv+47d323pdcm0OqDgr+v6MfeoOzT/3Lj8ZFb9B9"
    "3x10OyjTlOg1uO5e3pxd9z8PEv0WjXe0e9k9//kX1tpB8a939Ozq4vN5b8BvHP/KRu32z3"
    "lT8D/r1b08652LpvhXWUIoMj3aRT7Btv4TbGc+wZlj8x1IMUFyopCTRNssS3f4qqqyAxVH"
    "Ibv+dIodxX6iD7BPkEBwfengeuI4Nj8bblRqb0lTNW93OWoXWD6O2trlg19S4Txla4FyG9"
    "dP7wxhE9De9ixn6/B05hnBCUtZ9PU1cGU6qBuTqRvDELKIsG+UhldJCxDLEAu7TZnlOSZo"
    "wIYoif3td0Xk/vY7veDPr6XxxR4/IF1lwNbO3CQJTNhMYogwiGmCO3I01jRZEza6yg0Dsu"
    "kxA3d+vJ+KHiJ66xPkp4jo5eYHy3AIQ9blDMhw/NS2GVupLuUkSy4x/J7RV7WCxS3b5fLp"
    "1dV5isGnfVlqvL047bGd42VaRYU6ec2PrS0SUS1ObliJ62lKWFvrvLY+mNR0V8uOkUiBz3"
    "XmM+RHNG0NL5IfEcs8xv28ZEi/ghQi+2t4xEkjkYUavVCjtw7ZEstr9KrXgw1AWyotop6L"
    "wJrn8CzyUXRb2gZgbnYalWITXyPlhzytH/McxWj2nhoW8Czlo2lKb5Qryy1GaSpIE3M8sd"
    "i/dWfUp2icpgK1yySWPVn3Kq3TnV6ycuLO4zVtWfC56RqLtXR5DPpgQtDMsYfEdRk4yLLH"
    "6IVLyAgdHh697ARFtHkA+Jggnt45ZkNEUVismcwOUPytIUxHvLI2InSUjUOv8kbKY+RiOK"
    "L4c9aFrnt+HByxzK9t44jlmF8ZHuSc9rQggSOWFc6WR1N1BLDegxz1b2AAPwQ8rwI2BDtD"
    "sPPaElZVwc4rRIOuGwdar9iurYeB4nl06kQacH0RyARJPUo/8ts2pvQjBFPol/j9dMQVCa"
    "aQFJ2iPg2JDNwa+W4NnEgAX9Mu3MBqOweScViaXGXPIKzS5BKZPhXGloRVVG9mSRpgl9pX"
    "9MAWsVmwGWqKgeDM+1olxMd8yWCtT31JkIBtQmGbEIF9pRSkmGKb2tFutq1NqEdEZfvJgZ"
    "cobT8Arvq4HzgvLJHuWeh8n6Oc832Osuf7QCqzHtJKtHtQK0Ct2DK0+6xWLEIFFIpFKo5A"
    "r1qkwxZAuQDlApQLUC72Qf4F5QKUiz1WLuAw4l0pGQwdLygZW2J+p6kaOMk3X9kAXIN66M"
    "E1CDo86PB7osPv8lAPiFhPwKUwcySh1Fs5UnxbHqHeDUqVHyDbQRhN7Snb+5FJkenxAHL2"
    "8iM3uBRbT14eBHXNMUW2GAZbiNqeojj6hsdWml18Nz5tKpnyF9xMVG2WDTApmmSddLDM7N"
    "QyE86IcnaEBc2Kym49F53KgjgXn0UJhSBN1QA9rGp1gC9ZZTTdqH8DoN22igual36WN1fz"
    "gpo4TeN6hFFeTZxYTCypcMt0ULMlvYYm5OGikCZIwH4BJXC2ahDy3W0ew1xTSJcaghJf6P"
    "L6N1BVqBio5aoKTZJxKWsiW6ZWRj03qaXgytt0neKPkifuKkxz0oG8euucfAbwcgPdF5M8"
    "uwfIfTRnrijN4GJ+UmBc3eHPLhqZY+Jyy9pi7JdZa9w6AxU5jnATVjUoAMGvbaMAhL5Ywf"
    "Js+n0oXND60u/9s4Oe2KS/ozc/9T93xMxnv3e/9Dpi7stfSBFbUZEDHfTHOWQOcwDrhR73"
    "/dRjC1kvQN8CfatmgIK+BfpW/UBdrm/tRh1I1eJT6ANyrT69QqAoEVjYac996RjNiOPalE"
    "nv4VDoBRPRTQdNTNeznfnLH8UJ5KxX2FPI/oJe67HfyMCF3fXgoK/PNpCnMoCw+l0Kq+Bq"
    "axjXi7jaLOx6BleeV+J8lhqOmKkPs2sYyLw/vAW3Kqj5ewwoqPmg5tcP1HJu1d0khNRzi1"
    "orH6TIGSJVWlHOTA/rPKrxtYPcanFhr0oqOoTla6Ggw853rYMcqwQUdICCDnuXhwEFHSoE"
    "93e/ZPpFTAD5F+XzLyY+fSyplSVpQCtT19kvCakkqwCoYDvYpu1AezhEaY3sYjHSfgK7VC"
    "NLf6rL1V2xWm4A2bNonIbimtxVwDTT9AiMM5s+EcfV2w+S1w9ybQiJnoXjL4YT7CF8b/ue"
    "CIII6xy4/Jw9bImCBy+oHTS7L8VpenE0xfPEtkgUU6EKwdjo2CUjtxM+Wwi32K1hY8t16W"
    "pm30yHXZ8UKkt3klOW7iRblg7iWfTo72dkA8SzfI9cLxLPAr54cB3vWpRe6jrWS9IZTXvN"
    "qmzN07LXrcomaYYKfC8wnQ9s/rNq1XCn6Yk5s1m8lyEpWvFbOnzWse0xFq9kverBdgQreB"
    "0pSbOM2RReS9GGfbyJY/vjiXzZWPBL+VWxdiPDgG+5umX0dSjUysSHo9cok9/oZp3SGdUt"
    "hQREzNdMhXNsnQa3PMk2oq11ku3tTe+6g/jGdke7Nzd9JqVdDjoIu67JX8u7ozc/3wx6Fx"
    "3kzl2PTGVrRxHdb/NnibPbeYQq5H+9izBBUmeG1NZNOCUe5p9JFnP9acZJGjjOOJ8lcJwx"
    "KMKFzB8KgaGw2z5LCopxvmI8lLwQ67rwpOH2E+LlnrzsRFtdYU6FiK6uMSfjURsCe6WFzD"
    "9GGJ2FkpNCmcr0OcjTqmLUjVAYK+ys498smuIRQQ+OPUU4THIOFUr2N5NMZ1x5VXnjyhFv"
    "q1AS6Gobz24GpQCUAlAKQCn4DpWCaAsrqRBIZJD/C/m/EMNbb0DBiQv5v/UDtVz+b7TtbA"
    "DYQWKovdyilkIr7dG1yv+N0VfYBpKc0dsEorcrHrcbqGyx0t5J1jmzn2l4VlngrUIh19Dz"
    "hFD0b/7p/xuZrsAsrpt8rCi1XOF9llVVi/ktZnqyQQAMycu1MjpkuFU41lcmbIQBQg76LR"
    "TzmxPyKzt+09/CKnA3+FTk9slJAbxZLy3g4hoc/V0L2xqYM7cO+RN2TA6FwtOkt2emiOph"
    "0OT3A4MmGDT32KAJSR5N43qtkzzqaRvYZ/NgPRHdTopHMrxh9YAVVXBFM0CvNG6lSxxzOG"
    "kpLFLhlYM8exRe9Kky7r+U1eZ7OVBrzepneiMNj0VT6q96e0GCpBGq1BYsBfyjKoFw2L2B"
    "6L4ulOv+OifX/bUi111nDtBrpnpzwBb00t1IRxvTQDNy1DYdLN/+D7idbY0="
)
