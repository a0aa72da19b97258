*** Settings ***
Documentation     The Robot Framework side of the legacy web UI benchmark
...               (tests/bench/legacy/run.sh): the same steps as the Rust
...               connector in tests/examples/legacy_bench.rs, scripted the way
...               an RPA team would with SeleniumLibrary. Log in once, list the
...               open applications (every page), then per case read the four
...               case screens (Ansökan, Hushåll, Ekonomi, Historik), and write a
...               decision back: open the case and its Beslut screen, skip if a
...               decision with our reference is there, fill in the form by label,
...               Spara, confirm the "Spara?" dialog, wait for "Beslut sparat",
...               and check on the Beslut screen that the decision is listed.
Library           SeleniumLibrary    timeout=10s    implicit_wait=0s    run_on_failure=Nothing
Library           Collections
Library           ChromiumLibrary.py
Suite Setup       Open Chromium And Log In
Suite Teardown    Close All Browsers

*** Variables ***
${BASE}           http://127.0.0.1:8080
${USER}           robot
${PASSWORD}       sim-legacy-password
${TEXT}           Du beviljas ekonomiskt bistånd med 1 000 kr för mars 2021.

*** Test Cases ***
Read And Write Back Every Open Application
    @{cases}=    List Open Applications
    FOR    ${case}    IN    @{cases}
        ${application}=    Read Application    ${case}[0]    ${case}[1]
        Write Back Decision    ${case}[0]    ${case}[1]
    END
    ${n}=    Get Length    ${cases}
    Log To Console    \nRF_CASES=${n}

*** Keywords ***
Open Chromium And Log In
    Open Chromium    ${BASE}/login
    Wait Until Page Contains Element    xpath=//label[normalize-space()='Användarnamn']
    Input By Label    Användarnamn    ${USER}
    ${id}=    Get Element Attribute    xpath=//label[normalize-space()='Lösenord']    for
    Input Password    id:${id}    ${PASSWORD}
    Click Button    xpath=//input[@value='Logga in']
    Wait Until Page Contains Element    xpath=//frame[@name='innehall']
    Select Frame    name=innehall
    Wait Until Page Contains Element    xpath=//h1[normalize-space()='Startsida']

Input By Label
    [Arguments]    ${label}    ${value}
    ${id}=    Get Element Attribute    xpath=//label[normalize-space()='${label}']    for
    Input Text    id:${id}    ${value}

Open Screen
    [Arguments]    ${href}    ${title}
    Execute Javascript    window.location.assign(arguments[0])    ARGUMENTS    ${href}
    Wait Until Page Contains Element    xpath=//h1[normalize-space()='${title}']
    Page Should Contain Element    css:td.sidfot

Field
    [Arguments]    ${label}
    ${value}=    Get Text    xpath=//td[normalize-space()='${label}:']/following-sibling::td[1]
    RETURN    ${value}

Table Rows
    [Arguments]    ${caption}    ${columns: int}
    ${rows}=    Create List
    ${xpath}=    Set Variable    //table[caption[normalize-space()='${caption}']]//tr[count(td)=${columns} and not(td[@colspan])]
    ${n}=    Get Element Count    xpath=${xpath}
    FOR    ${i}    IN RANGE    1    ${n + 1}
        ${row}=    Create List
        FOR    ${j}    IN RANGE    1    ${columns + 1}
            ${cell}=    Get Text    xpath=(${xpath})[${i}]/td[${j}]
            Append To List    ${row}    ${cell}
        END
        Append To List    ${rows}    ${row}
    END
    RETURN    ${rows}

List Open Applications
    ${cases}=    Create List
    ${page}=    Set Variable    ${1}
    Open Screen    ${BASE}/app/lista    Öppna ansökningar
    WHILE    True
        Wait Until Page Contains Element    xpath=//td[starts-with(normalize-space(), 'Sida ${page} av')]
        ${rows}=    Set Variable    //table[caption[normalize-space()='Öppna ansökningar']]//tr[td/a]
        ${n}=    Get Element Count    xpath=${rows}
        FOR    ${i}    IN RANGE    1    ${n + 1}
            ${link}=    Set Variable    xpath=(${rows})[${i}]/td[1]/a
            ${id}=    Get Text    ${link}
            ${href}=    Get Element Attribute    ${link}    href
            ${case}=    Create List    ${id}    ${href}
            Append To List    ${cases}    ${case}
        END
        ${more}=    Get Element Count    xpath=//a[normalize-space()='Nästa »']
        IF    ${more} == 0    BREAK
        ${next}=    Get Element Attribute    xpath=//a[normalize-space()='Nästa »']    href
        ${page}=    Evaluate    ${page} + 1
        Open Screen    ${next}    Öppna ansökningar
    END
    RETURN    ${cases}

Read Application
    [Arguments]    ${id}    ${href}
    ${app}=    Create Dictionary
    Open Screen    ${href}    Ärende – Ansökan
    ${nr}=    Field    Ärendenummer
    Should Be Equal    ${nr}    ${id}
    FOR    ${label}    IN    Blankett    Inkom    Avser månad    Ansökningstyp    Sökande    Status
        ${value}=    Field    ${label}
        Set To Dictionary    ${app}    ${label}    ${value}
    END
    ${tab}=    Get Element Attribute    xpath=//a[normalize-space()='Hushåll']    href
    Open Screen    ${tab}    Ärende – Hushåll
    ${adults}=    Table Rows    Vuxna    5
    ${children}=    Table Rows    Barn    4
    ${dwelling}=    Field    Personer i bostaden
    Set To Dictionary    ${app}    adults=${adults}    children=${children}    dwelling=${dwelling}
    ${tab}=    Get Element Attribute    xpath=//a[normalize-space()='Ekonomi']    href
    Open Screen    ${tab}    Ärende – Ekonomi
    FOR    ${label}    IN    Hyra    Hushållsel    Hemförsäkring    Fackavgift    A-kasseavgift    Arbetsresor    Barnomsorg
        ${value}=    Field    ${label}
        Set To Dictionary    ${app}    ${label}    ${value}
    END
    ${incomes}=    Table Rows    Inkomster    3
    ${assets}=    Table Rows    Tillgångar    2
    ${needs}=    Table Rows    Livsföring i övrigt    3
    Set To Dictionary    ${app}    incomes=${incomes}    assets=${assets}    needs=${needs}
    ${tab}=    Get Element Attribute    xpath=//a[normalize-space()='Historik']    href
    Open Screen    ${tab}    Ärende – Historik
    FOR    ${label}    IN    Månader i följd med bistånd    Använda månader med jobbstimulans    Uppmaning att sänka hyran    Registerkontroll (SSBTEK)
        ${value}=    Field    ${label}
        Set To Dictionary    ${app}    ${label}    ${value}
    END
    ${seekers}=    Table Rows    Inskrivna arbetssökande    1
    ${registered}=    Table Rows    Registrerade inkomster    4
    Set To Dictionary    ${app}    job_seekers=${seekers}    register=${registered}
    RETURN    ${app}

Write Back Decision
    [Arguments]    ${id}    ${href}
    ${key}=    Set Variable    bench:${id}
    Open Screen    ${href}    Ärende – Ansökan
    ${nr}=    Field    Ärendenummer
    Should Be Equal    ${nr}    ${id}
    ${beslut}=    Get Element Attribute    xpath=//a[normalize-space()='Beslut']    href
    Open Screen    ${beslut}    Ärende – Beslut
    ${done}=    Get Element Count    xpath=//table[caption[normalize-space()='Registrerade beslut']]//td[normalize-space()='${key}']
    IF    ${done} > 0    RETURN
    ${select}=    Get Element Attribute    xpath=//label[normalize-space()='Beslut']    for
    Select From List By Value    id:${select}    bifall
    Input By Label    Belopp (kr)    1000
    Input By Label    Period    2021-03
    Input By Label    Beslutstext    ${TEXT}
    Input By Label    Beslutsfattare    handl-042
    Input By Label    Referens    ${key}
    Click Button    xpath=//input[@value='Spara']
    Wait Until Element Is Visible    xpath=//div[contains(., 'Spara beslutet?')]//input[@value='Ja']
    Click Button    xpath=//div[contains(., 'Spara beslutet?')]//input[@value='Ja']
    Wait Until Page Contains Element    xpath=//h1[normalize-space()='Beslut sparat']
    ${number}=    Field    Beslutsnummer
    Open Screen    ${beslut}    Ärende – Beslut
    Page Should Contain Element    xpath=//table[caption[normalize-space()='Registrerade beslut']]//tr[td[normalize-space()='${number}'] and td[normalize-space()='${key}']]
